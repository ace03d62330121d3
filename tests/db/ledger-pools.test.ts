import { and, eq, isNull, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import {
	adjust,
	balanceOf,
	grant,
	LedgerError,
	membershipTokensToday,
	reserve,
	settle,
	spendableAt,
	sweep,
	voidHold
} from '../../src/lib/server/credits';
import { spend } from '../../src/lib/server/credits/ledger';
import { withAccountLock } from '../../src/lib/server/credits/transaction';
import type { Db } from '../../src/lib/server/db/client';
import {
	billingSubscription,
	creditHold,
	creditPackage,
	creditTransaction
} from '../../src/lib/server/db/schema';
import { databaseKinds, useTestDatabase } from '../helpers/databases';
import { DAY, expectNoDrift, ledgerRows, T0 } from '../helpers/ledger';
import { createUser } from '../helpers/users';

// Issue 13's plan pools and memberships in the ledger: what may be spent now (frozen packages
// and daily limits), the balance that still counts them, and membership holds and rows.

const HOUR = 3_600_000;
/** 10:00 UTC on day `n` after T0 (T0 is a UTC midnight). */
const dayAt = (n: number, hours = 10) => new Date(T0.getTime() + n * DAY + hours * HOUR);

async function grantPool(
	db: Db,
	userId: string,
	options: {
		credits: number;
		dailyLimit?: number | null;
		days?: number | null;
		name?: string;
		bonus?: number;
		now?: Date;
	}
) {
	const now = options.now ?? T0;
	return grant(db, {
		userId,
		source: options.dailyLimit ? 'subscription' : 'purchase',
		name: options.name ?? 'Pool',
		credits: options.credits,
		expiresAt: options.days ? new Date(now.getTime() + options.days * DAY) : null,
		dailyLimit: options.dailyLimit ?? null,
		...(options.bonus ? { bonus: { credits: options.bonus, name: 'Bonus' } } : {}),
		key: `grant:${userId}:${options.name ?? 'pool'}:${now.getTime()}`,
		now
	});
}

async function freeze(db: Db, packageId: string, at: Date | null) {
	await db.update(creditPackage).set({ frozenAt: at }).where(eq(creditPackage.id, packageId));
}

async function becomeMember(db: Db, userId: string) {
	await db.insert(billingSubscription).values({
		id: `sub_${userId}`,
		userId,
		polarProductId: 'prod_member',
		productName: 'Member',
		membership: true,
		status: 'active',
		currentPeriodStart: T0,
		currentPeriodEnd: new Date(T0.getTime() + 60 * DAY),
		eventAt: T0
	});
}

/** Credits each package gave through usage rows on the UTC day of `day`. */
async function usageOn(db: Db, userId: string, day: Date) {
	const rows = await ledgerRows(db, userId);
	const start = Math.floor(day.getTime() / DAY) * DAY;
	const given = new Map<string, number>();
	for (const row of rows) {
		const t = row.createdAt.getTime();
		if (row.type !== 'usage' || !row.packageId || t < start || t >= start + DAY) continue;
		given.set(row.packageId, (given.get(row.packageId) ?? 0) - row.amount);
	}
	return given;
}

async function refusal(promise: Promise<unknown>): Promise<string> {
	const error = await promise.then(
		() => null,
		(e: unknown) => e
	);
	expect(error).toBeInstanceOf(LedgerError);
	return (error as LedgerError).code;
}

describe.each(databaseKinds)('plan pools and memberships in the ledger on %s', (kind) => {
	const database = useTestDatabase(kind);
	const db = () => database().db;

	it('a daily-limited pool gives at most its limit a UTC day, in spend order, and resumes the next day', async () => {
		const userId = await createUser(db());
		// The pool expires first, so it is spent first, but only up to 10 a day.
		const pool = await grantPool(db(), userId, { credits: 50, dailyLimit: 10, days: 30 });
		const pack = await grantPool(db(), userId, { credits: 30, name: 'Pack' });
		const day1 = dayAt(0);
		expect(await balanceOf(db(), userId, day1)).toMatchObject({
			balance: 80,
			spendable: 40,
			available: 40
		});

		const hold = await reserve(db(), { userId, upTo: 15, key: `${userId}:r1`, now: day1 });
		expect(hold.amount).toBe(15);
		const settled = await settle(db(), { holdId: hold.holdId, cost: 15, now: day1 });
		expect(settled).toMatchObject({ charged: 15, shortfall: 0, balanceAfter: 65 });
		expect(settled.packageIds).toEqual([pool.packageId, pack.packageId]);
		expect(Object.fromEntries(await usageOn(db(), userId, day1))).toEqual({
			[pool.packageId]: 10,
			[pack.packageId]: 5
		});

		// Later that day the pool has no room left: only the pack can pay.
		const view = await balanceOf(db(), userId, dayAt(0, 23));
		expect(view).toMatchObject({ balance: 65, spendable: 25, available: 25 });
		expect(view.packages.find((p) => p.id === pool.packageId)).toMatchObject({
			status: 'active',
			remainingCredits: 40,
			dailyLimit: 10,
			todayRemaining: 0
		});
		const shownPack = view.packages.find((p) => p.id === pack.packageId);
		expect(shownPack).toBeDefined();
		expect(shownPack).not.toHaveProperty('dailyLimit');
		expect(shownPack).not.toHaveProperty('todayRemaining');

		// The next UTC day (one minute past midnight) the pool gives again.
		const day2 = new Date(T0.getTime() + DAY + 60_000);
		expect(await spendableAt(db(), userId, day2)).toBe(35);
		const next = await reserve(db(), { userId, upTo: 4, key: `${userId}:r2`, now: day2 });
		await settle(db(), { holdId: next.holdId, cost: 4, now: day2 });
		expect(Object.fromEntries(await usageOn(db(), userId, day2))).toEqual({ [pool.packageId]: 4 });
		expect((await balanceOf(db(), userId, day2)).packages[0]).toMatchObject({
			id: pool.packageId,
			todayRemaining: 6
		});
		await expectNoDrift(db(), userId);
	});

	it('a settlement beyond its hold never passes a daily limit: the rest is a shortfall', async () => {
		const userId = await createUser(db());
		const pool = await grantPool(db(), userId, { credits: 100, dailyLimit: 5 });
		const hold = await reserve(db(), { userId, upTo: 3, key: `${userId}:r`, now: dayAt(0) });
		const settled = await settle(db(), { holdId: hold.holdId, cost: 9, now: dayAt(0) });
		expect(settled).toMatchObject({ charged: 5, shortfall: 4, balanceAfter: 95 });
		const [row] = (await ledgerRows(db(), userId)).filter((r) => r.type === 'usage');
		expect(row).toMatchObject({ packageId: pool.packageId, amount: -5 });
		expect(row.metadata).toMatchObject({ shortfall: 4 });
		expect(
			await refusal(reserve(db(), { userId, upTo: 1, key: `${userId}:r2`, now: dayAt(0) }))
		).toBe('insufficient_credits');
		await expectNoDrift(db(), userId);
	});

	it('a frozen pool counts in the balance but is never spent; thawed, it is spent again', async () => {
		const userId = await createUser(db());
		const pool = await grantPool(db(), userId, { credits: 40, dailyLimit: 30, days: 10, bonus: 5 });
		const pack = await grantPool(db(), userId, { credits: 6, name: 'Pack' });
		await freeze(db(), pool.packageId, dayAt(0, 1));
		const view = await balanceOf(db(), userId, dayAt(0));
		// The bonus package came with the pool (same expiry and daily limit) and is not frozen.
		expect(view).toMatchObject({ balance: 51, spendable: 11, available: 11 });
		expect(view.packages.find((p) => p.id === pool.packageId)).toMatchObject({
			status: 'frozen',
			todayRemaining: 0
		});
		expect(view.packages.find((p) => p.id === pool.bonus?.packageId)).toMatchObject({
			status: 'active',
			dailyLimit: 30,
			todayRemaining: 5
		});

		const hold = await reserve(db(), { userId, upTo: 20, key: `${userId}:r1`, now: dayAt(0) });
		expect(hold.amount).toBe(11);
		const settled = await settle(db(), { holdId: hold.holdId, cost: 20, now: dayAt(0) });
		expect(settled).toMatchObject({ charged: 11, shortfall: 9, balanceAfter: 40 });
		expect(settled.packageIds).toEqual([pool.bonus?.packageId, pack.packageId]);
		const [frozen] = await db()
			.select()
			.from(creditPackage)
			.where(eq(creditPackage.id, pool.packageId));
		expect(frozen.remainingCredits).toBe(40);
		expect(
			await refusal(reserve(db(), { userId, upTo: 1, key: `${userId}:r2`, now: dayAt(0) }))
		).toBe('insufficient_credits');

		await freeze(db(), pool.packageId, null);
		const again = await reserve(db(), { userId, upTo: 50, key: `${userId}:r3`, now: dayAt(1) });
		expect(again.amount).toBe(30);
		await settle(db(), { holdId: again.holdId, cost: 30, now: dayAt(1) });
		expect(Object.fromEntries(await usageOn(db(), userId, dayAt(1)))).toEqual({
			[pool.packageId]: 30
		});
		await expectNoDrift(db(), userId);
	});

	it('spend() of a reply honours rooms; an admin subtraction may take from any package that counts', async () => {
		const userId = await createUser(db());
		const pool = await grantPool(db(), userId, { credits: 20, dailyLimit: 4, days: 5 });
		const frozen = await grantPool(db(), userId, { credits: 10, days: 6, name: 'Frozen' });
		const pack = await grantPool(db(), userId, { credits: 10, name: 'Pack' });
		await freeze(db(), frozen.packageId, dayAt(0, 1));
		const spent = await withAccountLock(db(), userId, (tx) =>
			spend(tx, {
				userId,
				amount: 7,
				key: `${userId}:spend`,
				now: dayAt(0),
				type: 'usage',
				description: 'Reply',
				spendableOnly: true
			})
		);
		expect(spent.packageIds).toEqual([pool.packageId, pack.packageId]);
		expect(spent.balanceAfter).toBe(33);
		expect(Object.fromEntries(await usageOn(db(), userId, dayAt(0)))).toEqual({
			[pool.packageId]: 4,
			[pack.packageId]: 3
		});
		// An admin's correction is not a reply: it takes in spend order from what counts.
		const adjusted = await adjust(db(), {
			userId,
			mode: 'subtract',
			credits: 20,
			reason: 'Correction',
			actor: 'test',
			key: `${userId}:adjust`,
			now: dayAt(0)
		});
		expect(adjusted).toMatchObject({ delta: -20, balanceAfter: 13 });
		const left = await db()
			.select({ id: creditPackage.id, remaining: creditPackage.remainingCredits })
			.from(creditPackage)
			.where(eq(creditPackage.userId, userId));
		expect(Object.fromEntries(left.map((p) => [p.id, p.remaining]))).toEqual({
			[pool.packageId]: 0,
			[frozen.packageId]: 6,
			[pack.packageId]: 7
		});
		await expectNoDrift(db(), userId);
	});

	it('the expiry sweep still expires a frozen package on its date', async () => {
		const userId = await createUser(db());
		const pool = await grantPool(db(), userId, { credits: 12, dailyLimit: 3, days: 2 });
		await freeze(db(), pool.packageId, dayAt(0));
		await sweep(db(), { now: dayAt(3) });
		const [pkg] = await db()
			.select()
			.from(creditPackage)
			.where(eq(creditPackage.id, pool.packageId));
		expect(pkg).toMatchObject({ remainingCredits: 0, expiredCredits: 12 });
		expect((await balanceOf(db(), userId, dayAt(3))).packages[0].status).toBe('expired');
		await expectNoDrift(db(), userId);
	});

	it('a member with no credits gets a hold of 0 credits and the allowance; a non-member gets a 402', async () => {
		const userId = await createUser(db());
		const membership = { tokens: 3_000, cap: 10_000, rate: 1 };
		expect(
			await refusal(
				reserve(db(), { userId, upTo: 3, membership, key: `${userId}:r0`, now: dayAt(0) })
			)
		).toBe('insufficient_credits');
		await becomeMember(db(), userId);
		const hold = await reserve(db(), {
			userId,
			upTo: 3,
			membership,
			key: `${userId}:r1`,
			now: dayAt(0)
		});
		expect(hold).toMatchObject({ amount: 0, membershipTokens: 3_000 });
		expect(await membershipTokensToday(db(), userId, dayAt(0))).toBe(3_000);

		const settled = await settle(db(), {
			holdId: hold.holdId,
			cost: 0,
			membershipTokens: 2_500,
			metadata: { model: 'm', inputTokens: 500, outputTokens: 2_000, totalTokens: 2_500 },
			now: dayAt(0)
		});
		expect(settled).toMatchObject({ charged: 0, shortfall: 0, membershipTokens: 2_500 });
		const rows = await ledgerRows(db(), userId);
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({ type: 'usage', amount: 0, packageId: null, balanceAfter: 0 });
		expect(rows[0].metadata).toMatchObject({
			membershipTokens: 2_500,
			model: 'm',
			totalTokens: 2_500
		});
		expect(await membershipTokensToday(db(), userId, dayAt(0))).toBe(2_500);
		// The same key again replays; with other membership tokens it is a conflict.
		expect(
			await settle(db(), { holdId: hold.holdId, cost: 0, membershipTokens: 2_500, now: dayAt(0) })
		).toMatchObject({ replayed: true, membershipTokens: 2_500 });
		expect(
			await refusal(
				settle(db(), { holdId: hold.holdId, cost: 0, membershipTokens: 7, now: dayAt(0) })
			)
		).toBe('idempotency_conflict');
		await expectNoDrift(db(), userId);
	});

	it('past the fair-use cap replies are charged in credits; the cap crossing splits one reply', async () => {
		const userId = await createUser(db());
		await becomeMember(db(), userId);
		await grantPool(db(), userId, { credits: 100, name: 'Pack' });
		const cap = 5_000;
		// 4,000 of the 5,000 tokens are used by a first reply.
		const first = await reserve(db(), {
			userId,
			upTo: 4,
			membership: { tokens: 4_000, cap, rate: 1 },
			key: `${userId}:r1`,
			now: dayAt(0)
		});
		expect(first).toMatchObject({ amount: 0, membershipTokens: 4_000 });
		await settle(db(), { holdId: first.holdId, cost: 0, membershipTokens: 4_000, now: dayAt(0) });
		// The second wants 3,500 tokens at worst: 1,000 from the allowance, 3 credits for the rest.
		const second = await reserve(db(), {
			userId,
			upTo: 4,
			membership: { tokens: 3_500, cap, rate: 1 },
			key: `${userId}:r2`,
			now: dayAt(0)
		});
		expect(second).toMatchObject({ amount: 3, membershipTokens: 1_000 });
		// It used 3,200 tokens: 1,000 on the membership, ceil(2,200 / 1,000) = 3 credits.
		const settled = await settle(db(), {
			holdId: second.holdId,
			cost: 3,
			membershipTokens: 1_000,
			now: dayAt(0)
		});
		expect(settled).toMatchObject({ charged: 3, membershipTokens: 1_000, balanceAfter: 97 });
		// Over the cap: a normal hold in credits, no allowance set aside.
		const third = await reserve(db(), {
			userId,
			upTo: 4,
			membership: { tokens: 3_500, cap, rate: 1 },
			key: `${userId}:r3`,
			now: dayAt(0)
		});
		expect(third).toMatchObject({ amount: 4, membershipTokens: 0 });
		await voidHold(db(), { holdId: third.holdId, now: dayAt(0) });
		// The next UTC day the allowance is back.
		const fourth = await reserve(db(), {
			userId,
			upTo: 4,
			membership: { tokens: 3_500, cap, rate: 1 },
			key: `${userId}:r4`,
			now: dayAt(1)
		});
		expect(fourth).toMatchObject({ amount: 0, membershipTokens: 3_500 });
		const membershipRows = await db()
			.select()
			.from(creditTransaction)
			.where(and(eq(creditTransaction.userId, userId), isNull(creditTransaction.packageId)));
		expect(membershipRows.map((r) => r.metadata.membershipTokens)).toEqual([4_000, 1_000]);
		await expectNoDrift(db(), userId);
	});

	it('an ended membership sets nothing aside', async () => {
		const userId = await createUser(db());
		await becomeMember(db(), userId);
		await db()
			.update(billingSubscription)
			.set({ status: 'canceled', endedAt: dayAt(0, 1) })
			.where(eq(billingSubscription.userId, userId));
		expect(
			await refusal(
				reserve(db(), {
					userId,
					upTo: 2,
					membership: { tokens: 2_000, cap: 10_000, rate: 1 },
					key: `${userId}:r`,
					now: dayAt(0)
				})
			)
		).toBe('insufficient_credits');
	});
});

describe('plan pools and memberships under concurrency on postgres', () => {
	const database = useTestDatabase('postgres', { maxConnections: 20 });
	const db = () => database().db;

	it('50 concurrent replies on a daily-limited pool never take more than the limit that day; the next day spending resumes', async () => {
		const userId = await createUser(db());
		const pool = await grantPool(db(), userId, { credits: 500, dailyLimit: 40 });
		const reply = async (i: number, now: Date) => {
			const hold = await reserve(db(), {
				userId,
				upTo: 3,
				key: `${userId}:${now.getTime()}:${i}`,
				now
			});
			// Some cost more than their hold: the settlement may take more only within the limit.
			return settle(db(), { holdId: hold.holdId, cost: 1 + (i % 5), now });
		};
		const drain = async (now: Date) => {
			let total = 0;
			for (let i = 0; ; i++) {
				const hold = await reserve(db(), {
					userId,
					upTo: 3,
					key: `${userId}:drain:${now.getTime()}:${i}`,
					now
				}).catch((error: unknown) => {
					if (error instanceof LedgerError && error.code === 'insufficient_credits') return null;
					throw error;
				});
				if (!hold) return total;
				total += (await settle(db(), { holdId: hold.holdId, cost: hold.amount, now })).charged;
			}
		};
		const day1 = dayAt(0);
		const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => reply(i, day1)));
		const unexpected = results.filter(
			(r) => r.status === 'rejected' && !(r.reason instanceof LedgerError)
		);
		expect(unexpected).toEqual([]);
		const refused = results.filter((r) => r.status === 'rejected');
		expect(refused.every((r) => (r.reason as LedgerError).code === 'insufficient_credits')).toBe(
			true
		);
		const charged = results
			.filter((r) => r.status === 'fulfilled')
			.reduce((total, r) => total + r.value.charged, 0);
		expect(charged).toBeGreaterThan(0);
		expect(charged).toBeLessThanOrEqual(40);
		expect((await usageOn(db(), userId, day1)).get(pool.packageId)).toBe(charged);
		// Replies one after another then use up exactly what is left of the day's 40.
		const drained = await drain(day1);
		expect(charged + drained).toBe(40);
		expect((await usageOn(db(), userId, day1)).get(pool.packageId)).toBe(40);
		expect(await balanceOf(db(), userId, dayAt(0, 23))).toMatchObject({
			balance: 460,
			spendable: 0,
			reserved: 0,
			available: 0
		});

		// The next UTC day the pool gives again, and again never more than 40.
		const day2 = dayAt(1);
		const next = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => reply(i, day2)));
		const chargedNext = next
			.filter((r) => r.status === 'fulfilled')
			.reduce((total, r) => total + r.value.charged, 0);
		expect(chargedNext).toBeGreaterThan(0);
		expect(chargedNext).toBeLessThanOrEqual(40);
		expect(chargedNext + (await drain(day2))).toBe(40);
		expect((await usageOn(db(), userId, day2)).get(pool.packageId)).toBe(40);
		await expectNoDrift(db(), userId);
	});

	it('50 concurrent member replies cannot pass the fair-use cap together', async () => {
		const userId = await createUser(db());
		await becomeMember(db(), userId);
		const now = dayAt(0);
		const results = await Promise.allSettled(
			Array.from({ length: 50 }, (_, i) =>
				reserve(db(), {
					userId,
					upTo: 2,
					membership: { tokens: 1_500, cap: 20_000, rate: 1 },
					key: `${userId}:m${i}`,
					now
				})
			)
		);
		const holds = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
		const refused = results.filter((r) => r.status === 'rejected');
		expect(
			refused.every(
				(r) =>
					r.reason instanceof LedgerError &&
					(r.reason as LedgerError).code === 'insufficient_credits'
			)
		).toBe(true);
		// 13 whole allowances of 1,500 and one of the last 500 tokens; then nothing is left.
		expect(holds.map((h) => h.membershipTokens).sort((a, b) => a - b)).toEqual([
			500,
			...Array(13).fill(1_500)
		]);
		expect(holds.every((h) => h.amount === 0)).toBe(true);
		await Promise.all(
			holds.map((h) =>
				settle(db(), { holdId: h.holdId, cost: 0, membershipTokens: h.membershipTokens, now })
			)
		);
		expect(await membershipTokensToday(db(), userId, now)).toBe(20_000);
		const [row] = await db()
			.select({
				tokens: sql<number>`sum((${creditTransaction.metadata}->>'membershipTokens')::int)::int`
			})
			.from(creditTransaction)
			.where(eq(creditTransaction.userId, userId));
		expect(row.tokens).toBe(20_000);
		const pending = await db()
			.select()
			.from(creditHold)
			.where(and(eq(creditHold.userId, userId), eq(creditHold.status, 'pending')));
		expect(pending).toEqual([]);
		await expectNoDrift(db(), userId);
	});
});
