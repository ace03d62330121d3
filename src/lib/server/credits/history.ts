import { and, desc, eq, gte, inArray, lt, lte, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client';
import { creditTransaction } from '../db/schema';
import type { CreditTransactionView } from '../../types';
import type { TransactionType } from './ledger';

export type { TransactionType };

/** A ledger row as the API and the pages show it (the browser's CreditTransactionView). */
export type TransactionView = CreditTransactionView;

export function toTransactionView(
	row: Pick<
		typeof creditTransaction.$inferSelect,
		| 'id'
		| 'type'
		| 'amount'
		| 'balanceAfter'
		| 'packageId'
		| 'description'
		| 'metadata'
		| 'createdAt'
	>
): TransactionView {
	return {
		id: String(row.id),
		type: row.type,
		amount: row.amount,
		balanceAfter: row.balanceAfter,
		packageId: row.packageId,
		description: row.description,
		metadata: row.metadata,
		createdAt: row.createdAt.toISOString()
	};
}

export interface TransactionPage {
	items: TransactionView[];
	/** Pass back as `cursor` for the next (older) page; null on the last page. */
	nextCursor: string | null;
}

/** Which ledger rows to show. `from` is inclusive, `to` exclusive; amounts are signed, both included. */
export interface HistoryFilter {
	types?: TransactionType[];
	from?: Date;
	to?: Date;
	/** metadata->>'model' */
	model?: string;
	minAmount?: number;
	maxAmount?: number;
}

/**
 * A page boundary: the last row's `created_at` (to the microsecond, as PostgreSQL stores it)
 * and id, e.g. `2026-11-01T09:30:00.123456Z_4711`.
 */
export const CURSOR_PATTERN = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)_([1-9]\d{0,15})$/;

export interface Cursor {
	time: string;
	id: number;
}

/**
 * The years a history filter or cursor may name. Both JavaScript and PostgreSQL handle every
 * day in them (PostgreSQL refuses year 0 and JavaScript writes year 10000 as `+010000`, which
 * PostgreSQL cannot read), and no ledger row lies outside them.
 */
export const HISTORY_YEARS = { min: 2000, max: 2999 } as const;

/**
 * True when `value` (`YYYY-MM-DD…`, UTC) is a real calendar time within HISTORY_YEARS.
 * `Date.parse` rolls 2026-02-30 over to March instead of refusing it, so the parsed time must
 * print back as the same text (to the millisecond; JavaScript keeps no microseconds).
 */
export function isHistoryTime(value: string): boolean {
	const year = Number(value.slice(0, 4));
	if (!(year >= HISTORY_YEARS.min && year <= HISTORY_YEARS.max)) return false;
	const time = Date.parse(value);
	if (Number.isNaN(time)) return false;
	const printed = new Date(time).toISOString();
	const length = Math.min(value.length, 23);
	return printed.slice(0, length) === value.slice(0, length);
}

/** The cursor in `value`, or null when it is not one this module wrote. */
export function parseCursor(value: string): Cursor | null {
	const match = CURSOR_PATTERN.exec(value);
	if (!match || !isHistoryTime(match[1])) return null;
	const id = Number(match[2]);
	if (!Number.isSafeInteger(id)) return null;
	return { time: match[1], id };
}

/** A row's `created_at` as a cursor writes it (microseconds, which a JavaScript Date drops). */
export const cursorTime = sql<string>`to_char(${creditTransaction.createdAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** The cursor for the row with this `cursorTime` and id. */
export const cursorOf = (row: { cursorTime: string; id: number }) => `${row.cursorTime}_${row.id}`;

/**
 * The WHERE conditions of a filter, over one user's rows or (userId null, the admin explorer)
 * everyone's. The model condition is written exactly as credit_transaction_model_time_idx is.
 */
export function historyConditions(userId: string | null, filter: HistoryFilter): SQL[] {
	const conditions: SQL[] = [];
	if (userId !== null) conditions.push(eq(creditTransaction.userId, userId));
	if (filter.types?.length) conditions.push(inArray(creditTransaction.type, filter.types));
	if (filter.from) conditions.push(gte(creditTransaction.createdAt, filter.from));
	if (filter.to) conditions.push(lt(creditTransaction.createdAt, filter.to));
	if (filter.model !== undefined) {
		conditions.push(sql`(${creditTransaction.metadata}->>'model') = ${filter.model}`);
	}
	if (filter.minAmount !== undefined) {
		conditions.push(gte(creditTransaction.amount, filter.minAmount));
	}
	if (filter.maxAmount !== undefined) {
		conditions.push(lte(creditTransaction.amount, filter.maxAmount));
	}
	return conditions;
}

/** Rows after `cursor` in newest-first order: one row-value comparison, one index range. */
export const olderThan = (cursor: Cursor) =>
	sql`(${creditTransaction.createdAt}, ${creditTransaction.id}) < (${cursor.time}::timestamptz, ${cursor.id})`;

/** The columns a history row is read with (and its cursor time). */
const historyColumns = {
	id: creditTransaction.id,
	type: creditTransaction.type,
	amount: creditTransaction.amount,
	balanceAfter: creditTransaction.balanceAfter,
	packageId: creditTransaction.packageId,
	description: creditTransaction.description,
	metadata: creditTransaction.metadata,
	createdAt: creditTransaction.createdAt,
	cursorTime
};

/**
 * A user's ledger, newest first, keyset-paginated on (created_at, id): rows arriving later sort
 * before the first page, so a page boundary never moves, and a deep page or a date range is
 * one range of an index, as cheap as the first page.
 */
export async function listTransactions(
	db: Db,
	userId: string,
	options: HistoryFilter & { limit: number; cursor?: Cursor | null }
): Promise<TransactionPage> {
	const conditions = historyConditions(userId, options);
	if (options.cursor) conditions.push(olderThan(options.cursor));
	const rows = await db
		.select(historyColumns)
		.from(creditTransaction)
		.where(and(...conditions))
		.orderBy(desc(creditTransaction.createdAt), desc(creditTransaction.id))
		.limit(options.limit + 1);
	const page = rows.slice(0, options.limit);
	const last = page[page.length - 1];
	return {
		items: page.map(toTransactionView),
		nextCursor: rows.length > options.limit ? cursorOf(last) : null
	};
}

/**
 * Every row of a user's filtered history, newest first, read page by page so that an export
 * of a million rows never holds more than one page in memory.
 */
export async function* eachTransaction(
	db: Db,
	userId: string,
	filter: HistoryFilter,
	pageSize = 1000
): AsyncGenerator<TransactionView> {
	let cursor: Cursor | null = null;
	do {
		const page = await listTransactions(db, userId, { ...filter, limit: pageSize, cursor });
		yield* page.items;
		cursor = page.nextCursor ? parseCursor(page.nextCursor) : null;
	} while (cursor);
}

/** Rows before `cursor` in newest-first order (the newer side of a page boundary). */
export const newerThan = (cursor: Cursor) =>
	sql`(${creditTransaction.createdAt}, ${creditTransaction.id}) > (${cursor.time}::timestamptz, ${cursor.id})`;

export interface HistoryPage extends TransactionPage {
	/** Pass back as `before` for the previous (newer) page; null on the first page. */
	newerCursor: string | null;
	/** Rows matching the filter, on every page: at most HISTORY_COUNT_LIMIT (see `totalAtLeast`). */
	total: number;
	/** True when there are more than `total` rows (the count stopped at HISTORY_COUNT_LIMIT). */
	totalAtLeast: boolean;
	/**
	 * Matching rows newer than this page's first row (this page starts at row offset + 1); null
	 * when there are more than HISTORY_COUNT_LIMIT.
	 */
	offset: number | null;
}

/**
 * How far the history's counts go. Counting a million rows costs a quarter of a second on every
 * page load; counting to ten thousand, a few milliseconds, and "of 10,000+" says as much.
 */
export const HISTORY_COUNT_LIMIT = 10_000;

/**
 * One page of the dashboard's history, either side of a boundary: `cursor` reads older rows
 * (as listTransactions), `before` newer ones. Also counts the matching rows and this page's
 * position, so the page can say "26–50 of 132" and offer the previous page.
 */
export async function historyPage(
	db: Db,
	userId: string,
	options: HistoryFilter & { limit: number; cursor?: Cursor | null; before?: Cursor | null }
): Promise<HistoryPage> {
	const conditions = historyConditions(userId, options);
	const readNewer = (before: Cursor) =>
		db
			.select(historyColumns)
			.from(creditTransaction)
			.where(and(...conditions, newerThan(before)))
			.orderBy(creditTransaction.createdAt, creditTransaction.id)
			.limit(options.limit + 1);
	let rows: Awaited<ReturnType<typeof readNewer>>;
	let moreNewer: boolean;
	let moreOlder: boolean;
	if (options.before) {
		const newer = await readNewer(options.before);
		moreNewer = newer.length > options.limit;
		rows = newer.slice(0, options.limit).reverse();
		// The boundary row itself (or whatever is older than it) is on the next page.
		moreOlder = rows.length > 0;
	} else {
		const older = await db
			.select(historyColumns)
			.from(creditTransaction)
			.where(and(...conditions, ...(options.cursor ? [olderThan(options.cursor)] : [])))
			.orderBy(desc(creditTransaction.createdAt), desc(creditTransaction.id))
			.limit(options.limit + 1);
		moreOlder = older.length > options.limit;
		rows = older.slice(0, options.limit);
		moreNewer = Boolean(options.cursor) && rows.length > 0;
	}
	const first = rows[0];
	const last = rows[rows.length - 1];
	const [total, offset] = await Promise.all([
		countUpToLimit(db, conditions),
		first
			? countUpToLimit(db, [...conditions, newerThan({ time: first.cursorTime, id: first.id })])
			: 0
	]);
	return {
		items: rows.map(toTransactionView),
		nextCursor: moreOlder && last ? cursorOf(last) : null,
		newerCursor: moreNewer && first ? cursorOf(first) : null,
		total: Math.min(total, HISTORY_COUNT_LIMIT),
		totalAtLeast: total > HISTORY_COUNT_LIMIT,
		offset: offset > HISTORY_COUNT_LIMIT ? null : offset
	};
}

/** The rows matching `conditions`, counted up to one past HISTORY_COUNT_LIMIT. */
async function countUpToLimit(db: Db, conditions: SQL[]): Promise<number> {
	const matching = db
		.select({ one: sql`1` })
		.from(creditTransaction)
		.where(and(...conditions))
		.limit(HISTORY_COUNT_LIMIT + 1)
		.as('matching');
	const [{ n }] = await db.select({ n: sql<number>`count(*)::int` }).from(matching);
	return n;
}
