import { and, eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import {
	adjust,
	balanceOf,
	grant,
	LedgerError,
	recordOwed,
	reserve,
	settle,
	sweep,
	voidHold
} from '../../src/lib/server/credits';
import { selectRows } from '../../src/lib/server/db/client';
import { creditAccount, creditHold, creditPackage } from '../../src/lib/server/db/schema';
import { useTestDatabase } from '../helpers/databases';
import { createUser } from '../helpers/users';
import {
	at,
	DAY,
	expectNoDrift,
	ledgerRows,
	T0,
	userWith as userWithPackages
} from '../helpers/ledger';

// PGlite runs one transaction at a time and can never show a race: these run on real PostgreSQL
// only, with a pool wide enough that the operations really overlap in the server.

/** A small seeded generator (mulberry32), so a failing run can be repeated exactly. */
function seeded(seed: number) {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
	};
}

/** The SQLSTATE of a driver error, looking through drizzle's wrapping. */
function sqlState(error: unknown): string | undefined {
	for (let e: unknown = error; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
		const code = (e as { code?: unknown }).code;
		if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
	}
	return undefined;
}

/** How a batch of concurrent operations ended: values, ledger refusals by code, anything else. */
function tally<T>(results: PromiseSettledResult<T>[]) {
	const values: T[] = [];
	const refusals: Record<string, number> = {};
	const unexpected: string[] = [];
	for (const result of results) {
		if (result.status === 'fulfilled') values.push(result.value);
		else if (result.reason instanceof LedgerError) {
			refusals[result.reason.code] = (refusals[result.reason.code] ?? 0) + 1;
		} else {
			const error = result.reason as Error;
			unexpected.push(`${sqlState(error) ?? 'no SQLSTATE'}: ${error?.message ?? String(error)}`);
		}
	}
	return { values, refusals, unexpected };
}

describe('the credits ledger under concurrency on postgres', () => {
	const database = useTestDatabase('postgres', { maxConnections: 20 });
	const db = () => database().db;

	const userWith = (...packages: { credits: number; days?: number; at?: Date }[]) =>
		userWithPackages(db(), ...packages);
	const rowsOf = (userId: string) => ledgerRows(db(), userId);
	const expectClean = (userId?: string) => expectNoDrift(db(), userId);

	it('50 concurrent 1-credit holds on a balance of 30: exactly 30 are granted', async () => {
		const { userId } = await userWith({ credits: 30 });
		const results = await Promise.allSettled(
			Array.from({ length: 50 }, (_, i) =>
				reserve(db(), { userId, upTo: 1, key: `${userId}:r${i}`, now: T0 })
			)
		);
		const { values, refusals, unexpected } = tally(results);
		expect(unexpected).toEqual([]);
		expect(values).toHaveLength(30);
		expect(values.every((hold) => hold.amount === 1 && !hold.replayed)).toBe(true);
		expect(refusals).toEqual({ insufficient_credits: 20 });
		expect(await balanceOf(db(), userId, T0)).toMatchObject({
			balance: 30,
			reserved: 30,
			available: 0
		});
		const pending = await db()
			.select({ n: sql<number>`count(*)::int` })
			.from(creditHold)
			.where(and(eq(creditHold.userId, userId), eq(creditHold.status, 'pending')));
		expect(pending[0].n).toBe(30);
	});

	it('50 concurrent settles of distinct holds charge exactly the sum of their costs', async () => {
		const { userId } = await userWith(
			{ credits: 80, days: 5 },
			{ credits: 70, days: 40 },
			{ credits: 100 }
		);
		const holds = [];
		for (let i = 0; i < 50; i++) {
			holds.push(await reserve(db(), { userId, upTo: 4, key: `${userId}:h${i}`, now: T0 }));
		}
		const random = seeded(20261101);
		const costs = holds.map(() => Math.floor(random() * 5));
		const total = costs.reduce((a, b) => a + b, 0);
		const results = await Promise.allSettled(
			holds.map((hold, i) => settle(db(), { holdId: hold.holdId, cost: costs[i], now: T0 }))
		);
		const { values, refusals, unexpected } = tally(results);
		expect(unexpected).toEqual([]);
		expect(refusals).toEqual({});
		expect(values.map((v) => [v.charged, v.shortfall])).toEqual(costs.map((c) => [c, 0]));
		expect(await balanceOf(db(), userId, T0)).toMatchObject({
			balance: 250 - total,
			reserved: 0,
			available: 250 - total
		});
		const usage = (await rowsOf(userId)).filter((row) => row.type === 'usage');
		expect(usage.reduce((sum, row) => sum + row.amount, 0)).toBe(-total);
		// Rows were written one operation at a time: each balance_after is the previous minus its amount.
		for (let i = 1; i < usage.length; i++) {
			expect(usage[i].balanceAfter).toBe(usage[i - 1].balanceAfter + usage[i].amount);
		}
		await expectClean(userId);
	});

	it('200 concurrent 1-credit spends over 3 packages: 30 succeed, no deadlock, spent in expiry order', async () => {
		// Granted out of expiry order, so creation order cannot pass for spend order.
		const { userId, packageIds } = await userWith(
			{ credits: 10, days: 30 },
			{ credits: 10, days: 10 },
			{ credits: 10, days: 20 }
		);
		const expiryRank = new Map([
			[packageIds[1], 0],
			[packageIds[2], 1],
			[packageIds[0], 2]
		]);
		const spendOne = async (i: number) => {
			const hold = await reserve(db(), { userId, upTo: 1, key: `${userId}:s${i}`, now: T0 });
			return settle(db(), { holdId: hold.holdId, cost: 1, now: T0 });
		};
		const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => spendOne(i)));
		const { values, refusals, unexpected } = tally(results);
		// A deadlock (40P01) or serialization failure (40001) would land here with its SQLSTATE.
		expect(unexpected).toEqual([]);
		expect(values).toHaveLength(30);
		expect(values.every((v) => v.charged === 1 && v.shortfall === 0)).toBe(true);
		expect(refusals).toEqual({ insufficient_credits: 170 });

		const usage = (await rowsOf(userId)).filter((row) => row.type === 'usage');
		expect(usage).toHaveLength(30);
		const ranks = usage.map((row) => expiryRank.get(row.packageId!)!);
		expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
		expect(ranks.filter((r) => r === 0)).toHaveLength(10);
		expect(usage.map((row) => row.balanceAfter)).toEqual(
			Array.from({ length: 30 }, (_, i) => 29 - i)
		);
		expect(await balanceOf(db(), userId, T0)).toMatchObject({
			balance: 0,
			reserved: 0,
			available: 0
		});
		const packages = await db()
			.select({ remaining: creditPackage.remainingCredits })
			.from(creditPackage)
			.where(eq(creditPackage.userId, userId));
		expect(packages.map((p) => p.remaining)).toEqual([0, 0, 0]);
		await expectClean(userId);
	});

	it('the same hold settled 10 times at once charges once; the others replay the first charge', async () => {
		const { userId, packageIds } = await userWith({ credits: 5, days: 3 }, { credits: 20 });
		const hold = await reserve(db(), { userId, upTo: 8, key: `${userId}:h`, now: T0 });
		const results = await Promise.allSettled(
			Array.from({ length: 10 }, () => settle(db(), { holdId: hold.holdId, cost: 7, now: T0 }))
		);
		const { values, refusals, unexpected } = tally(results);
		expect(unexpected).toEqual([]);
		expect(refusals).toEqual({});
		expect(values.filter((v) => v.replayed)).toHaveLength(9);
		const first = values.find((v) => !v.replayed)!;
		expect(first).toMatchObject({ charged: 7, shortfall: 0, balanceAfter: 18 });
		for (const v of values) expect(v).toEqual({ ...first, replayed: v.replayed });
		const usage = (await rowsOf(userId)).filter((row) => row.type === 'usage');
		expect(usage.map((row) => [row.packageId, row.amount])).toEqual([
			[packageIds[0], -5],
			[packageIds[1], -2]
		]);
		expect(usage.map((row) => row.id)).toEqual(first.transactionIds);
		expect(await balanceOf(db(), userId, T0)).toMatchObject({ balance: 18, reserved: 0 });
		await expectClean(userId);
	});

	it('settles and voids racing on the same holds with different keys: each hold resolves once', async () => {
		const { userId } = await userWith({ credits: 100 });
		const holds = [];
		for (let i = 0; i < 20; i++) {
			holds.push(await reserve(db(), { userId, upTo: 3, key: `${userId}:h${i}`, now: T0 }));
		}
		const attempts = holds.flatMap((hold) => [
			settle(db(), { holdId: hold.holdId, cost: 2, key: `${hold.holdId}:a`, now: T0 }),
			settle(db(), { holdId: hold.holdId, cost: 3, key: `${hold.holdId}:b`, now: T0 }),
			voidHold(db(), { holdId: hold.holdId, now: T0 })
		]);
		const results = await Promise.allSettled(attempts);
		const { values, refusals, unexpected } = tally(results);
		expect(unexpected).toEqual([]);
		expect(values).toHaveLength(20);
		expect(refusals).toEqual({ hold_already_resolved: 40 });

		const rows = await db().select().from(creditHold).where(eq(creditHold.userId, userId));
		const usage = (await rowsOf(userId)).filter((row) => row.type === 'usage');
		let charged = 0;
		for (const [i, hold] of holds.entries()) {
			const winners = results.slice(i * 3, i * 3 + 3).filter((r) => r.status === 'fulfilled');
			expect(winners).toHaveLength(1);
			const row = rows.find((r) => r.id === hold.holdId)!;
			const rowsOfHold = usage.filter((u) => u.metadata.holdId === hold.holdId);
			const cost =
				results[i * 3].status === 'fulfilled'
					? 2
					: results[i * 3 + 1].status === 'fulfilled'
						? 3
						: 0;
			expect(row.status).toBe(cost === 0 ? 'voided' : 'settled');
			expect(row.chargedCredits).toBe(cost);
			expect(rowsOfHold.reduce((sum, u) => sum - u.amount, 0)).toBe(cost);
			charged += cost;
		}
		expect(await balanceOf(db(), userId, T0)).toMatchObject({
			balance: 100 - charged,
			reserved: 0
		});
		await expectClean(userId);
	});

	it('20 concurrent grants with one key on a user without an account row yet: one package', async () => {
		const userId = await createUser(db());
		const input = {
			userId,
			source: 'purchase' as const,
			name: 'Pack',
			credits: 25,
			expiresAt: at(30),
			key: `${userId}:webhook`,
			now: T0
		};
		const results = await Promise.allSettled(Array.from({ length: 20 }, () => grant(db(), input)));
		const { values, refusals, unexpected } = tally(results);
		expect(unexpected).toEqual([]);
		expect(refusals).toEqual({});
		expect(values.filter((v) => !v.replayed)).toHaveLength(1);
		expect(new Set(values.map((v) => v.packageId)).size).toBe(1);
		const packages = await db()
			.select()
			.from(creditPackage)
			.where(eq(creditPackage.userId, userId));
		expect(packages).toHaveLength(1);
		expect(await rowsOf(userId)).toHaveLength(1);
		expect((await balanceOf(db(), userId, T0)).balance).toBe(25);
	});

	it('10 concurrent deliveries of one Polar order under different webhook ids grant once', async () => {
		const { userId } = await userWith({ credits: 1 });
		const results = await Promise.allSettled(
			Array.from({ length: 10 }, (_, i) =>
				grant(db(), {
					userId,
					source: 'purchase',
					name: 'Pack',
					credits: 40,
					expiresAt: null,
					key: `${userId}:delivery-${i}`,
					polar: { orderId: `order-${userId}` },
					now: T0
				})
			)
		);
		const { values, refusals, unexpected } = tally(results);
		expect(unexpected).toEqual([]);
		expect(values).toHaveLength(1);
		expect(refusals).toEqual({ idempotency_conflict: 9 });
		expect((await balanceOf(db(), userId, T0)).balance).toBe(41);
		await expectClean(userId);
	});

	it('admin subtractions racing settles never take what pending holds set aside', async () => {
		// 30 credits, 10 holds of 2 (20 set aside, 10 free). Each settle costs 3 (one beyond its
		// hold) and each subtraction wants 2: the free 10 go to whichever comes first.
		const { userId } = await userWith({ credits: 12, days: 2 }, { credits: 18 });
		const holds = [];
		for (let i = 0; i < 10; i++) {
			holds.push(await reserve(db(), { userId, upTo: 2, key: `${userId}:h${i}`, now: T0 }));
		}
		const settles = holds.map((hold) => settle(db(), { holdId: hold.holdId, cost: 3, now: T0 }));
		const subtractions = Array.from({ length: 10 }, (_, i) =>
			adjust(db(), {
				userId,
				mode: 'subtract',
				credits: 2,
				reason: 'Race',
				actor: 'test',
				key: `${userId}:sub${i}`,
				now: T0
			})
		);
		// Both batches are observed from the start, so no refusal goes unhandled while we wait.
		const [settleResults, subtractResults] = await Promise.all([
			Promise.allSettled(settles),
			Promise.allSettled(subtractions)
		]);
		const settled = tally(settleResults);
		const subtracted = tally(subtractResults);
		expect(settled.unexpected).toEqual([]);
		expect(subtracted.unexpected).toEqual([]);
		expect(settled.refusals).toEqual({});
		// No settle was short of its own hold: the subtractions only took free credits.
		expect(settled.values.every((v) => v.charged >= 2 && v.charged <= 3)).toBe(true);
		expect(Object.keys(subtracted.refusals).filter((c) => c !== 'insufficient_credits')).toEqual(
			[]
		);
		const charged = settled.values.reduce((sum, v) => sum + v.charged, 0);
		expect(charged + 2 * subtracted.values.length).toBe(30);
		expect(await balanceOf(db(), userId, T0)).toMatchObject({
			balance: 0,
			reserved: 0,
			available: 0
		});
		await expectClean(userId);
	});

	it('sweeps running on 4 instances at once expire each package and resolve each stale hold once', async () => {
		// An era of its own (2020), so that nothing the other tests wrote is due at this sweep.
		const era = new Date('2020-01-01T00:00:00Z');
		const users: { userId: string; owing: string; idle: string }[] = [];
		for (let i = 0; i < 15; i++) {
			const { userId } = await userWith(
				{ credits: 10, days: 1, at: era },
				{ credits: 10, at: new Date(era.getTime() + 1) }
			);
			const owing = await reserve(db(), {
				userId,
				upTo: 3,
				key: `${userId}:owing`,
				ttlMs: 60_000,
				now: era
			});
			const idle = await reserve(db(), {
				userId,
				upTo: 2,
				key: `${userId}:idle`,
				ttlMs: 60_000,
				now: era
			});
			await recordOwed(db(), owing.holdId, 2);
			users.push({ userId, owing: owing.holdId, idle: idle.holdId });
		}
		const now = new Date(era.getTime() + 2 * DAY);
		const results = await Promise.allSettled(Array.from({ length: 4 }, () => sweep(db(), { now })));
		const { values, unexpected } = tally(results);
		expect(unexpected).toEqual([]);
		const totals = values.reduce(
			(sum, r) => ({
				expiredPackages: sum.expiredPackages + r.expiredPackages,
				forfeitedCredits: sum.forfeitedCredits + r.forfeitedCredits,
				settledHolds: sum.settledHolds + r.settledHolds,
				expiredHolds: sum.expiredHolds + r.expiredHolds
			}),
			{ expiredPackages: 0, forfeitedCredits: 0, settledHolds: 0, expiredHolds: 0 }
		);
		expect(totals).toEqual({
			expiredPackages: 15,
			forfeitedCredits: 150,
			settledHolds: 15,
			expiredHolds: 15
		});
		for (const { userId, owing, idle } of users) {
			const rows = await rowsOf(userId);
			expect(rows.filter((r) => r.type === 'expire').map((r) => r.amount)).toEqual([-10]);
			expect(rows.filter((r) => r.type === 'usage').map((r) => r.amount)).toEqual([-2]);
			const holds = await db().select().from(creditHold).where(eq(creditHold.userId, userId));
			const status = Object.fromEntries(holds.map((h) => [h.id, [h.status, h.chargedCredits]]));
			expect(status).toEqual({ [owing]: ['settled', 2], [idle]: ['expired', 0] });
			expect(await balanceOf(db(), userId, now)).toMatchObject({ balance: 8, reserved: 0 });
			await expectClean(userId);
		}
	});

	it('a stale hold is settled for what it owes when the sweep holds the lock, and a racing sweep does not throw', async () => {
		// resolveStaleHolds reads owed_credits before taking the user's lock and settles for that
		// figure under the key `sweep:<hold>`. When recordOwed raises the figure in between, the
		// first sweep charges the old figure and a second sweep, having read the new one, reuses the
		// key with another cost and throws idempotency_conflict. The user's lock, held here by a
		// plain transaction, makes that interleaving certain instead of lucky.
		const era = new Date('2019-01-01T00:00:00Z');
		const { userId } = await userWith({ credits: 20, at: era });
		const hold = await reserve(db(), {
			userId,
			upTo: 5,
			key: `${userId}:h`,
			ttlMs: 60_000,
			now: era
		});
		await recordOwed(db(), hold.holdId, 3);

		const waitingForLocks = async (count: number) => {
			for (let i = 0; i < 500; i++) {
				const [row] = await selectRows<{ n: number }>(
					db(),
					sql`select count(*)::int as n from pg_stat_activity
						where wait_event_type = 'Lock' and datname = current_database()`
				);
				if (row.n >= count) return;
				await new Promise((resolve) => setTimeout(resolve, 10));
			}
			throw new Error(`fewer than ${count} sessions ever waited for a lock`);
		};
		let release!: () => void;
		const gate = new Promise<void>((resolve) => (release = resolve));
		let locked!: () => void;
		const lockTaken = new Promise<void>((resolve) => (locked = resolve));
		const blocker = db().transaction(async (tx) => {
			await tx.select().from(creditAccount).where(eq(creditAccount.userId, userId)).for('update');
			locked();
			await gate;
		});
		await lockTaken;

		const now = new Date(era.getTime() + DAY);
		const first = sweep(db(), { now });
		await waitingForLocks(1);
		// The reply is still streaming and records what it owes so far.
		await recordOwed(db(), hold.holdId, 5);
		const second = sweep(db(), { now });
		await waitingForLocks(2);
		release();
		await blocker;
		const { values, refusals, unexpected } = tally(await Promise.allSettled([first, second]));

		const [row] = await db().select().from(creditHold).where(eq(creditHold.id, hold.holdId));
		// Both symptoms in one comparison, so a failure shows the whole picture.
		expect({
			hold: { status: row.status, owed: row.owedCredits, charged: row.chargedCredits },
			refusals,
			unexpected
		}).toEqual({
			hold: { status: 'settled', owed: 5, charged: 5 },
			refusals: {},
			unexpected: []
		});
		expect(values.reduce((sum, r) => sum + r.settledHolds, 0)).toBe(1);
		await expectClean(userId);
	});
});
