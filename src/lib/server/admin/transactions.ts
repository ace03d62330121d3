import { and, desc, eq, gte, inArray, lt, lte, sql, type SQL } from 'drizzle-orm';
import {
	cursorOf,
	cursorTime,
	historyConditions,
	olderThan,
	parseCursor,
	startOfUtcDay,
	type Cursor,
	type HistoryFilter,
	type TransactionType
} from '../credits';
import { selectRows, type Db } from '../db/client';
import { adminLedgerDaily, adminLedgerRollup, creditTransaction, user } from '../db/schema';
import { AppError } from '../errors';

/**
 * A day is rolled up this long after its end. Ledger rows are stamped with the time of the
 * operation that commits them a moment later, so a day's rows are final well before this.
 */
const SETTLE_MS = 3_600_000;

/** The explorer's filter: the history filter plus whose rows (a user id or an exact email). */
export interface ExplorerFilter extends HistoryFilter {
	user?: string;
}

export interface ExplorerRow {
	id: string;
	createdAt: string;
	userId: string;
	email: string;
	type: TransactionType;
	amount: number;
	balanceAfter: number;
	description: string;
	model: string | null;
	inputTokens: number | null;
	outputTokens: number | null;
	totalTokens: number | null;
	packageId: string | null;
	chatId: string | null;
}

export interface ExplorerTotals {
	count: number;
	/** Sum of the positive amounts. */
	creditsIn: number;
	/** Sum of the negative amounts, as a positive number. */
	creditsOut: number;
	/** Sum of metadata.totalTokens. */
	tokens: number;
}

export interface ExplorerPage {
	items: ExplorerRow[];
	nextCursor: string | null;
}

/**
 * The user a `user` filter names: an id, or an email compared as better-auth stores it
 * (lower case). Unknown is a client mistake on the `user` field, not an empty result, so a typo
 * in the form says so instead of showing "no transactions".
 */
async function resolveUser(db: Db, value: string | undefined): Promise<string | null> {
	if (value === undefined) return null;
	const [found] = await db
		.select({ id: user.id })
		.from(user)
		.where(value.includes('@') ? eq(user.email, value.toLowerCase()) : eq(user.id, value))
		.limit(1);
	if (!found) {
		throw new AppError(400, 'invalid_request', 'user: no user has this id or email', {
			field: 'user'
		});
	}
	return found.id;
}

/** The SQL conditions of a filter, with the user resolved. */
async function conditionsOf(db: Db, filter: ExplorerFilter) {
	const userId = await resolveUser(db, filter.user);
	return { userId, conditions: historyConditions(userId, filter) };
}

const metaText = (value: unknown) => (typeof value === 'string' ? value : null);
const metaWhole = (value: unknown) =>
	typeof value === 'number' && Number.isFinite(value) ? value : null;

/**
 * Every user's ledger rows, newest first, keyset-paginated on (created_at, id) like a user's
 * history. Unfiltered, a page is one backward range of credit_transaction_time_idx; a model
 * filter uses credit_transaction_model_time_idx, a user filter the user's index.
 */
export async function listExplorerRows(
	db: Db,
	filter: ExplorerFilter,
	options: { limit: number; cursor?: Cursor | null }
): Promise<ExplorerPage> {
	const { conditions } = await conditionsOf(db, filter);
	if (options.cursor) conditions.push(olderThan(options.cursor));
	const rows = await db
		.select({
			id: creditTransaction.id,
			createdAt: creditTransaction.createdAt,
			cursorTime,
			userId: creditTransaction.userId,
			email: user.email,
			type: creditTransaction.type,
			amount: creditTransaction.amount,
			balanceAfter: creditTransaction.balanceAfter,
			description: creditTransaction.description,
			metadata: creditTransaction.metadata,
			packageId: creditTransaction.packageId
		})
		.from(creditTransaction)
		.innerJoin(user, eq(user.id, creditTransaction.userId))
		.where(and(...conditions))
		.orderBy(desc(creditTransaction.createdAt), desc(creditTransaction.id))
		.limit(options.limit + 1);
	const page = rows.slice(0, options.limit);
	const last = page[page.length - 1];
	return {
		items: page.map((row) => ({
			id: String(row.id),
			createdAt: row.createdAt.toISOString(),
			userId: row.userId,
			email: row.email,
			type: row.type,
			amount: row.amount,
			balanceAfter: row.balanceAfter,
			description: row.description,
			model: metaText(row.metadata.model),
			inputTokens: metaWhole(row.metadata.inputTokens),
			outputTokens: metaWhole(row.metadata.outputTokens),
			totalTokens: metaWhole(row.metadata.totalTokens),
			packageId: row.packageId,
			chatId: metaText(row.metadata.chatId)
		})),
		nextCursor: rows.length > options.limit ? cursorOf(last) : null
	};
}

/**
 * Every row of a filter, newest first, one page in memory at a time (the CSV export). The user
 * is resolved before anything is sent, so an unknown one is a 400, not a broken-off file.
 */
export async function openExplorerRows(
	db: Db,
	filter: ExplorerFilter,
	pageSize = 1000
): Promise<AsyncGenerator<ExplorerRow>> {
	const userId = await resolveUser(db, filter.user);
	// The id resolves to itself, so later pages do not depend on the email staying the same.
	const resolved = { ...filter, user: userId ?? undefined };
	async function* rows() {
		let cursor: Cursor | null = null;
		do {
			const page = await listExplorerRows(db, resolved, { limit: pageSize, cursor });
			yield* page.items;
			cursor = page.nextCursor ? parseCursor(page.nextCursor) : null;
		} while (cursor);
	}
	return rows();
}

/** metadata.totalTokens when it is a JSON number (a malformed value must not fail the sum). */
const tokensOf = sql`case when jsonb_typeof(${creditTransaction.metadata}->'totalTokens') = 'number' then (${creditTransaction.metadata}->>'totalTokens')::numeric else 0 end`;

/** count, credits in, credits out (negative) and tokens of the ledger rows matching `where`. */
const liveSums = (where: SQL | undefined) => sql`
	select count(*)::numeric as n,
		coalesce(sum(greatest(${creditTransaction.amount}, 0)), 0)::numeric as cin,
		coalesce(sum(least(${creditTransaction.amount}, 0)), 0)::numeric as cout,
		coalesce(sum(${tokensOf}), 0)::numeric as tok
	from ${creditTransaction} where ${where ?? sql`true`}`;

interface SumsRow {
	n: string | number;
	cin: string | number;
	cout: string | number;
	tok: string | number;
}

/**
 * Totals of everything the filter matches (not just one page), computed in the database. With
 * a user, that user's rows are summed through their index. Without one, days that are over
 * come from admin_ledger_daily (rolled up here the first time they are needed) and only the
 * rows since then are summed live, so totals over a million rows cost about as much as a day's.
 */
export async function explorerTotals(
	db: Db,
	filter: ExplorerFilter,
	now = new Date()
): Promise<ExplorerTotals> {
	const { userId, conditions } = await conditionsOf(db, filter);
	let query: SQL;
	if (userId !== null) {
		query = liveSums(and(...conditions));
	} else {
		const settled = startOfUtcDay(new Date(now.getTime() - SETTLE_MS));
		await rollUp(db, settled);
		const liveFrom = filter.from && filter.from > settled ? filter.from : settled;
		const live = historyConditions(null, { ...filter, from: liveFrom });
		const daily = dailyConditions(filter, settled);
		query = sql`
			select sum(n) as n, sum(cin) as cin, sum(cout) as cout, sum(tok) as tok from (
				select coalesce(sum(${adminLedgerDaily.rows}), 0)::numeric as n,
					coalesce(sum(greatest(${adminLedgerDaily.amount}, 0)::numeric * ${adminLedgerDaily.rows}), 0) as cin,
					coalesce(sum(least(${adminLedgerDaily.amount}, 0)::numeric * ${adminLedgerDaily.rows}), 0) as cout,
					coalesce(sum(${adminLedgerDaily.tokens}), 0)::numeric as tok
				from ${adminLedgerDaily} where ${and(...daily)}
				union all
				${liveSums(and(...live))}
			) parts`;
	}
	const [row] = await selectRows<SumsRow>(db, query);
	return {
		count: Number(row.n),
		creditsIn: Number(row.cin),
		creditsOut: -Number(row.cout),
		tokens: Number(row.tok)
	};
}

const isoDay = (date: Date) => date.toISOString().slice(0, 10);

/** The filter over admin_ledger_daily: whole days before `settled` (filter days are whole UTC days). */
function dailyConditions(filter: HistoryFilter, settled: Date): SQL[] {
	const to = filter.to && filter.to < settled ? filter.to : settled;
	const conditions: SQL[] = [lt(adminLedgerDaily.day, isoDay(to))];
	if (filter.from) conditions.push(gte(adminLedgerDaily.day, isoDay(filter.from)));
	if (filter.types?.length) conditions.push(inArray(adminLedgerDaily.type, filter.types));
	if (filter.model !== undefined) conditions.push(eq(adminLedgerDaily.model, filter.model));
	if (filter.minAmount !== undefined) {
		conditions.push(gte(adminLedgerDaily.amount, filter.minAmount));
	}
	if (filter.maxAmount !== undefined) {
		conditions.push(lte(adminLedgerDaily.amount, filter.maxAmount));
	}
	return conditions;
}

const dayOf = sql`(${creditTransaction.createdAt} at time zone 'UTC')::date`;
const modelOf = sql`coalesce(${creditTransaction.metadata}->>'model', '')`;

/** Sums every day before `settled` not summed yet, then moves the mark there. */
async function rollUp(db: Db, settled: Date): Promise<void> {
	const [mark] = await db
		.select({ through: adminLedgerRollup.through })
		.from(adminLedgerRollup)
		.where(eq(adminLedgerRollup.key, 'ledger'));
	let from: Date;
	if (mark) {
		from = new Date(`${mark.through}T00:00:00Z`);
	} else {
		const [first] = await db
			.select({ at: creditTransaction.createdAt })
			.from(creditTransaction)
			.orderBy(creditTransaction.createdAt)
			.limit(1);
		from = first ? startOfUtcDay(first.at) : settled;
	}
	if (from >= settled) {
		if (!mark) await markThrough(db, settled);
		return;
	}
	// Two requests may fill the same days at once: they compute the same sums, the first wins.
	await db.execute(sql`
		insert into ${adminLedgerDaily} (day, type, model, amount, rows, tokens)
		select ${dayOf}, ${creditTransaction.type}, ${modelOf}, ${creditTransaction.amount},
			count(*), round(sum(${tokensOf}))::bigint
		from ${creditTransaction}
		where ${creditTransaction.createdAt} >= ${from.toISOString()}::timestamptz
			and ${creditTransaction.createdAt} < ${settled.toISOString()}::timestamptz
		group by 1, 2, 3, 4
		on conflict do nothing`);
	await markThrough(db, settled);
}

async function markThrough(db: Db, settled: Date): Promise<void> {
	await db
		.insert(adminLedgerRollup)
		.values({ key: 'ledger', through: isoDay(settled) })
		.onConflictDoUpdate({
			target: adminLedgerRollup.key,
			set: { through: sql`greatest(${adminLedgerRollup.through}, excluded.through)` }
		});
}
