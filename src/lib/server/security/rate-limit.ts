import { sql, type SQL } from 'drizzle-orm';
import { selectRows, type Db } from '../db/client';

/** At most `max` hits per `windowSeconds` in one bucket; `max` 0 switches the limit off. */
export interface Limit {
	max: number;
	windowSeconds: number;
}

export type Verdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

const ALLOWED: Verdict = { allowed: true };

/**
 * Counts one hit in the bucket `key` (fixed windows) and says whether it is within the limit.
 * One atomic upsert, so concurrent requests on any number of instances are counted exactly.
 */
export async function hit(db: Db, key: string, limit: Limit): Promise<Verdict> {
	if (limit.max <= 0) return ALLOWED;
	const [row] = await selectRows<HitRow>(db, hitStatement(key, limit));
	return verdictOf(row, limit);
}

/** What the hit statement returns: the window's hits so far and its seconds left. */
export interface HitRow {
	hits: number;
	remaining: number;
}

/**
 * The upsert of hit(), for a caller that counts the hit as part of a larger statement (as a
 * `with` query: it runs even when nothing reads it) and reads the verdict with verdictOf().
 */
export function hitStatement(key: string, limit: Limit): SQL {
	return sql`
		insert into rate_limit as r (key, hits, window_ends_at)
		values (${key}, 1, now() + make_interval(secs => ${limit.windowSeconds}))
		on conflict (key) do update set
			hits = case when r.window_ends_at <= now() then 1 else r.hits + 1 end,
			window_ends_at = case when r.window_ends_at <= now() then excluded.window_ends_at
				else r.window_ends_at end
		returning hits, extract(epoch from window_ends_at - now())::float8 as remaining`;
}

/** The verdict on a counted hit (none counted: the limit is off). */
export function verdictOf(row: HitRow | undefined, limit: Limit): Verdict {
	if (!row || limit.max <= 0) return ALLOWED;
	return Number(row.hits) <= limit.max
		? ALLOWED
		: { allowed: false, retryAfterSeconds: retryAfter(row.remaining) };
}

/** Counts hits in several buckets (address, account…); refused when any of them is over. */
export async function hitAll(db: Db, buckets: { key: string; limit: Limit }[]): Promise<Verdict> {
	let worst: Verdict = ALLOWED;
	// Sequential and in the given order: every bucket is counted even when an earlier one refused,
	// so a flood keeps its address refused without resetting an account's window.
	for (const { key, limit } of buckets) {
		const verdict = await hit(db, key, limit);
		if (!verdict.allowed && (worst.allowed || verdict.retryAfterSeconds > worst.retryAfterSeconds))
			worst = verdict;
	}
	return worst;
}

/** Exponential backoff of an account after repeated failures. */
export interface Backoff {
	/** Failures allowed before the first pause; 0 switches backoff off. */
	freeFailures: number;
	/** The first pause; each further failure doubles it… */
	baseSeconds: number;
	/** …up to this. */
	maxSeconds: number;
	/** Failures older than this are forgotten. */
	memorySeconds: number;
}

/** Seconds until `key` may try again (0 = now). */
export async function blockedFor(db: Db, key: string): Promise<number> {
	const [row] = await selectRows<{ remaining: number | null }>(
		db,
		sql`select extract(epoch from blocked_until - now())::float8 as remaining
			from rate_limit where key = ${key} and blocked_until > now()`
	);
	return row?.remaining ? retryAfter(row.remaining) : 0;
}

/**
 * Records one failure of `key`. From the `freeFailures`-th failure on, the key is paused:
 * `baseSeconds`, then twice as long at each further failure, up to `maxSeconds`.
 */
export async function recordFailure(db: Db, key: string, backoff: Backoff): Promise<void> {
	if (backoff.freeFailures <= 0) return;
	const pause = (failures: SQL) =>
		sql`now() + make_interval(secs => least(${backoff.maxSeconds}::float8,
			${backoff.baseSeconds}::float8 * power(2, least(${failures} - ${backoff.freeFailures}, 30))))`;
	await db.execute(sql`
		insert into rate_limit as r (key, hits, window_ends_at, blocked_until)
		values (${key}, 1, now() + make_interval(secs => ${backoff.memorySeconds}),
			case when ${backoff.freeFailures} <= 1 then ${pause(sql`1`)} end)
		on conflict (key) do update set
			hits = case when r.window_ends_at <= now() then 1 else r.hits + 1 end,
			window_ends_at = excluded.window_ends_at,
			blocked_until = case
				when r.window_ends_at <= now() then excluded.blocked_until
				when r.hits + 1 >= ${backoff.freeFailures} then ${pause(sql`(r.hits + 1)`)}
				else null end`);
}

/** Forgets the failures of `key` (a successful sign-in). */
export async function clearFailures(db: Db, key: string): Promise<void> {
	await db.execute(sql`delete from rate_limit where key = ${key}`);
}

/** Deletes buckets whose window and pause are over; run by the sweep. */
export async function pruneRateLimits(db: Db): Promise<number> {
	const rows = await selectRows<{ key: string }>(
		db,
		sql`delete from rate_limit
			where window_ends_at < now() and (blocked_until is null or blocked_until < now())
			returning key`
	);
	return rows.length;
}

function retryAfter(seconds: number): number {
	return Math.max(1, Math.ceil(Number(seconds)));
}
