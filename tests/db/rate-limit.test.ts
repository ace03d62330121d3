import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { publicCatalog } from '../../src/lib/server/billing/public-catalog';
import { selectRows } from '../../src/lib/server/db/client';
import type { AppError } from '../../src/lib/server/errors';
import {
	blockedFor,
	clearFailures,
	hit,
	hitAll,
	pruneRateLimits,
	recordFailure
} from '../../src/lib/server/security/rate-limit';
import { databaseKinds, useTestDatabase } from '../helpers/databases';

const backoff = { freeFailures: 3, baseSeconds: 30, maxSeconds: 100, memorySeconds: 3600 };

describe.each(databaseKinds)('the rate limiter on %s', (kind) => {
	const database = useTestDatabase(kind, { maxConnections: 20 });
	const db = () => database().db;
	let n = 0;
	const key = () => `test:${kind}:${n++}`;

	/** Moves a bucket's window (and pause) into the past, as if time had passed. */
	const age = (bucket: string, seconds: number) =>
		db().execute(sql`update rate_limit set
			window_ends_at = window_ends_at - make_interval(secs => ${seconds}),
			blocked_until = blocked_until - make_interval(secs => ${seconds})
			where key = ${bucket}`);

	it('allows max hits per window, then refuses with the seconds left', async () => {
		const bucket = key();
		const limit = { max: 3, windowSeconds: 60 };
		for (let i = 0; i < 3; i++) expect(await hit(db(), bucket, limit)).toEqual({ allowed: true });
		const refused = await hit(db(), bucket, limit);
		expect(refused.allowed).toBe(false);
		if (!refused.allowed) {
			expect(refused.retryAfterSeconds).toBeGreaterThan(55);
			expect(refused.retryAfterSeconds).toBeLessThanOrEqual(60);
		}
		await age(bucket, 61);
		expect(await hit(db(), bucket, limit)).toEqual({ allowed: true });
	});

	it('is off with max 0 and writes nothing', async () => {
		const bucket = key();
		for (let i = 0; i < 5; i++) {
			expect(await hit(db(), bucket, { max: 0, windowSeconds: 60 })).toEqual({ allowed: true });
		}
		const rows = await selectRows(db(), sql`select 1 from rate_limit where key = ${bucket}`);
		expect(rows).toHaveLength(0);
	});

	it('refuses when any of several buckets is over, and counts them all', async () => {
		const [a, b] = [key(), key()];
		const limit = { max: 2, windowSeconds: 60 };
		await hit(db(), b, limit);
		await hit(db(), b, limit);
		const verdict = await hitAll(db(), [
			{ key: a, limit },
			{ key: b, limit }
		]);
		expect(verdict.allowed).toBe(false);
		const rows = await selectRows<{ key: string; hits: number }>(
			db(),
			sql`select key, hits from rate_limit where key in (${a}, ${b}) order by key`
		);
		expect(rows.map((r) => Number(r.hits)).sort()).toEqual([1, 3]);
	});

	it('pauses after the free failures, doubling up to the maximum, and forgets on success', async () => {
		const account = key();
		for (let i = 0; i < 2; i++) await recordFailure(db(), account, backoff);
		expect(await blockedFor(db(), account)).toBe(0);
		await recordFailure(db(), account, backoff); // third: 30 s
		expect(await blockedFor(db(), account)).toBeGreaterThan(25);
		expect(await blockedFor(db(), account)).toBeLessThanOrEqual(30);
		await recordFailure(db(), account, backoff); // fourth: 60 s
		expect(await blockedFor(db(), account)).toBeGreaterThan(55);
		await recordFailure(db(), account, backoff); // fifth: 120 s, capped at 100
		expect(await blockedFor(db(), account)).toBeGreaterThan(95);
		expect(await blockedFor(db(), account)).toBeLessThanOrEqual(100);
		await clearFailures(db(), account);
		expect(await blockedFor(db(), account)).toBe(0);
	});

	it('forgets failures older than its memory', async () => {
		const account = key();
		for (let i = 0; i < 3; i++) await recordFailure(db(), account, backoff);
		expect(await blockedFor(db(), account)).toBeGreaterThan(0);
		await age(account, 3601);
		expect(await blockedFor(db(), account)).toBe(0);
		await recordFailure(db(), account, backoff);
		expect(await blockedFor(db(), account)).toBe(0);
	});

	it('prunes finished windows only', async () => {
		const [old, fresh] = [key(), key()];
		await hit(db(), old, { max: 5, windowSeconds: 60 });
		await hit(db(), fresh, { max: 5, windowSeconds: 60 });
		await age(old, 120);
		expect(await pruneRateLimits(db())).toBeGreaterThanOrEqual(1);
		const left = await selectRows<{ key: string }>(
			db(),
			sql`select key from rate_limit where key in (${old}, ${fresh})`
		);
		expect(left.map((r) => r.key)).toEqual([fresh]);
	});

	if (kind === 'postgres') {
		it('counts 50 concurrent hits exactly: 10 allowed, 40 refused', async () => {
			const bucket = key();
			const verdicts = await Promise.all(
				Array.from({ length: 50 }, () => hit(db(), bucket, { max: 10, windowSeconds: 60 }))
			);
			expect(verdicts.filter((v) => v.allowed)).toHaveLength(10);
			const [row] = await selectRows<{ hits: number }>(
				db(),
				sql`select hits from rate_limit where key = ${bucket}`
			);
			expect(Number(row.hits)).toBe(50);
		});
	}
});

describe.each(databaseKinds)('the public catalog limit on %s', (kind) => {
	const database = useTestDatabase(kind);
	const db = () => database().db;
	const catalog = async () => ({ items: [], staleSince: null, unavailable: false });
	const ask = (address: string) =>
		publicCatalog(db(), { address, query: {}, catalog, limit: { max: 2, windowSeconds: 60 } }).then(
			() => 200,
			(error) => (error as AppError).status
		);

	it('counts an IPv6 client per /64, as the sign-in limits do', async () => {
		const prefix = `2001:db8:${kind === 'pglite' ? 'a' : 'b'}:1`;
		expect(await ask(`${prefix}::1`)).toBe(200);
		expect(await ask(`${prefix}::2`)).toBe(200);
		// Another address of the same /64: the same subscriber, over the limit.
		expect(await ask(`${prefix}:ffff::3`)).toBe(429);
		// The next /64 is someone else.
		expect(await ask(`2001:db8:${kind === 'pglite' ? 'a' : 'b'}:2::1`)).toBe(200);
	});
});
