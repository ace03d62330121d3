import { desc, sql } from 'drizzle-orm';
import { startOfUtcDay, verify, type Drift } from '../credits';
import type { Db } from '../db/client';
import { creditTransaction, ledgerCheck, polarWebhookDelivery } from '../db/schema';
import type { Actor } from './audit';

const DAY = 86_400_000;

/** The overview's windows: whole UTC days up to now, today included. */
export const OVERVIEW_WINDOWS = { today: 1, week: 7, month: 30 } as const;
export type OverviewWindow = keyof typeof OVERVIEW_WINDOWS;

export interface WindowTotals {
	/** Credits granted by Polar purchases and subscription cycles. */
	sold: number;
	/** Credits charged for replies. */
	spent: number;
	/** Tokens of the replies charged in the window (one count per reply). */
	tokens: number;
	/** Users with at least one charged reply in the window. */
	activeUsers: number;
	/** Polar webhook deliveries received in the window that could not be applied. */
	failedWebhooks: number;
}

export interface OverviewDay {
	/** UTC calendar day, `YYYY-MM-DD`. */
	date: string;
	/** Every credit added: bonus, purchases, subscriptions, admin grants and additions. */
	granted: number;
	/** Credits charged for replies. */
	consumed: number;
}

export interface LedgerHealth {
	ranAt: string;
	ranBy: string;
	durationMs: number;
	users: number;
	packages: number;
	transactions: number;
	driftCount: number;
	/** The first drifts found, at most MAX_STORED_DRIFTS. */
	drifts: unknown[];
}

export interface AdminOverview {
	generatedAt: string;
	windows: Record<OverviewWindow, WindowTotals>;
	/** Oldest first, 30 entries, days without activity included. */
	days: OverviewDay[];
	/** The newest stored ledger replay, or null when none has run yet. */
	ledgerHealth: LedgerHealth | null;
}

const MAX_STORED_DRIFTS = 20;
const GRANT_TYPES = ['bonus', 'purchase', 'subscription', 'grant', 'adjust'] as const;

const isoDay = (date: Date) => date.toISOString().slice(0, 10);
// postgres.js (as drizzle sets it up) does not serialise a Date inside raw `sql`: send text.
const at = (date: Date) => sql`${date.toISOString()}::timestamptz`;

/**
 * The admin overview: per-window totals, granted vs consumed per day for 30 days and the last
 * ledger check. Three aggregate queries over one range of the (type, created_at) index and the
 * deliveries; nothing here loops over ledger rows.
 */
export async function adminOverview(db: Db, now = new Date()): Promise<AdminOverview> {
	const today = startOfUtcDay(now);
	const since = (days: number) => new Date(today.getTime() - (days - 1) * DAY);
	const from = since(OVERVIEW_WINDOWS.month);

	const [perDay, active, failed, health] = await Promise.all([
		dailySums(db, from),
		activeUsers(db, since),
		failedWebhooks(db, since),
		lastLedgerCheck(db)
	]);

	const days: OverviewDay[] = [];
	const byDate = new Map(perDay.map((row) => [row.day, row]));
	for (let i = 0; i < OVERVIEW_WINDOWS.month; i++) {
		const date = isoDay(new Date(from.getTime() + i * DAY));
		const row = byDate.get(date);
		days.push({ date, granted: row?.granted ?? 0, consumed: row?.consumed ?? 0 });
	}

	const windows = {} as Record<OverviewWindow, WindowTotals>;
	for (const [name, length] of Object.entries(OVERVIEW_WINDOWS) as [OverviewWindow, number][]) {
		// Windows are whole UTC days, so their sums are sums of the (at most 30) daily rows.
		const first = isoDay(since(length));
		const inWindow = perDay.filter((row) => row.day >= first);
		windows[name] = {
			sold: inWindow.reduce((sum, row) => sum + row.sold, 0),
			spent: inWindow.reduce((sum, row) => sum + row.consumed, 0),
			tokens: inWindow.reduce((sum, row) => sum + row.tokens, 0),
			activeUsers: active[name],
			failedWebhooks: failed[name]
		};
	}
	return { generatedAt: now.toISOString(), windows, days, ledgerHealth: health };
}

/** Granted, sold and consumed credits and reply tokens per UTC day since `from`. */
async function dailySums(db: Db, from: Date) {
	const t = creditTransaction;
	const day = sql<string>`to_char(${t.createdAt} at time zone 'UTC', 'YYYY-MM-DD')`;
	const types = sql.join(
		[...GRANT_TYPES, 'usage'].map((type) => sql`${type}`),
		sql`, `
	);
	const rows = await db
		.select({
			day,
			granted:
				sql`coalesce(sum(${t.amount}) filter (where ${t.type} <> 'usage' and ${t.amount} > 0), 0)`.mapWith(
					Number
				),
			sold: sql`coalesce(sum(${t.amount}) filter (where ${t.type} in ('purchase', 'subscription')), 0)`.mapWith(
				Number
			),
			consumed: sql`coalesce(-sum(${t.amount}) filter (where ${t.type} = 'usage'), 0)`.mapWith(
				Number
			),
			// A reply that drew on several packages wrote several rows with the same metadata;
			// only its first row (`…#0`) counts its tokens.
			tokens:
				sql`coalesce(sum((${t.metadata}->>'totalTokens')::bigint) filter (where ${t.type} = 'usage' and ${t.idempotencyKey} like '%#0'), 0)`.mapWith(
					Number
				)
		})
		.from(t)
		.where(sql`${t.type} in (${types}) and ${t.createdAt} >= ${at(from)}`)
		.groupBy(day);
	return rows;
}

/** Distinct users with a charged reply in each window. */
async function activeUsers(db: Db, since: (days: number) => Date) {
	const t = creditTransaction;
	const count = (days: number) =>
		sql`count(distinct ${t.userId}) filter (where ${t.createdAt} >= ${at(since(days))})`.mapWith(
			Number
		);
	const [row] = await db
		.select({
			today: count(OVERVIEW_WINDOWS.today),
			week: count(OVERVIEW_WINDOWS.week),
			month: count(OVERVIEW_WINDOWS.month)
		})
		.from(t)
		.where(sql`${t.type} = 'usage' and ${t.createdAt} >= ${at(since(OVERVIEW_WINDOWS.month))}`);
	return row;
}

/** Failed Polar deliveries received in each window. */
async function failedWebhooks(db: Db, since: (days: number) => Date) {
	const d = polarWebhookDelivery;
	const count = (days: number) =>
		sql`count(*) filter (where ${d.receivedAt} >= ${at(since(days))})`.mapWith(Number);
	const [row] = await db
		.select({
			today: count(OVERVIEW_WINDOWS.today),
			week: count(OVERVIEW_WINDOWS.week),
			month: count(OVERVIEW_WINDOWS.month)
		})
		.from(d)
		.where(
			sql`${d.outcome} = 'failed' and ${d.receivedAt} >= ${at(since(OVERVIEW_WINDOWS.month))}`
		);
	return row;
}

/** The newest stored ledger check. */
export async function lastLedgerCheck(db: Db): Promise<LedgerHealth | null> {
	const [row] = await db.select().from(ledgerCheck).orderBy(desc(ledgerCheck.id)).limit(1);
	if (!row) return null;
	return {
		ranAt: row.ranAt.toISOString(),
		ranBy: row.ranBy,
		durationMs: row.durationMs,
		users: row.users,
		packages: row.packages,
		transactions: row.transactions,
		driftCount: row.driftCount,
		drifts: row.drifts
	};
}

/**
 * Replays every ledger (`verify`) and stores the result for the overview. It reads every package
 * and ledger row, so it runs when asked (the overview's button, `npm run credits -- verify`),
 * never on a page view.
 */
export async function runLedgerCheck(
	db: Db,
	actor: Actor
): Promise<LedgerHealth & { allDrifts: Drift[] }> {
	const started = performance.now();
	const report = await verify(db);
	const durationMs = Math.round(performance.now() - started);
	const [row] = await db
		.insert(ledgerCheck)
		.values({
			users: report.users,
			packages: report.packages,
			transactions: report.transactions,
			driftCount: report.drifts.length,
			drifts: report.drifts.slice(0, MAX_STORED_DRIFTS),
			durationMs,
			ranBy: actor.email
		})
		.returning();
	return {
		ranAt: row.ranAt.toISOString(),
		ranBy: row.ranBy,
		durationMs,
		users: report.users,
		packages: report.packages,
		transactions: report.transactions,
		driftCount: report.drifts.length,
		drifts: row.drifts,
		allDrifts: report.drifts
	};
}
