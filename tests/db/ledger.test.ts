import { eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import {
	adjust,
	balanceOf,
	grant,
	LedgerError,
	listTransactions,
	parseCursor,
	reserve,
	revokeFromPackage,
	settle,
	sweep,
	verify,
	voidHold
} from '../../src/lib/server/credits';
import { creditHold, creditPackage, creditTransaction } from '../../src/lib/server/db/schema';
import { databaseKinds, useTestDatabase } from '../helpers/databases';
import { createUser } from '../helpers/users';
import { at, expectNoDrift, ledgerRows, T0, userWith as userWithPackages } from '../helpers/ledger';

describe.each(databaseKinds)('the credits ledger on %s', (kind) => {
	const database = useTestDatabase(kind);
	const db = () => database().db;

	const userWith = (...packages: { credits: number; days?: number; at?: Date }[]) =>
		userWithPackages(db(), ...packages);
	const rowsOf = (userId: string) => ledgerRows(db(), userId);
	const expectClean = (userId?: string) => expectNoDrift(db(), userId);

	it('grants a package with its ledger row, and replays the same key without a second write', async () => {
		const userId = await createUser(db());
		const input = {
			userId,
			source: 'signup_bonus' as const,
			name: 'Welcome bonus',
			credits: 8,
			expiresAt: at(30),
			key: `bonus:${userId}`,
			now: T0
		};
		const first = await grant(db(), input);
		const again = await grant(db(), input);
		expect(first).toMatchObject({ balanceAfter: 8, replayed: false });
		expect(again).toEqual({ ...first, replayed: true });
		const rows = await rowsOf(userId);
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({ type: 'bonus', amount: 8, balanceAfter: 8 });
		await expect(grant(db(), { ...input, credits: 9 })).rejects.toMatchObject({
			code: 'idempotency_conflict'
		});
		expect(await rowsOf(userId)).toHaveLength(1);
	});

	it('refuses bad grants and writes nothing', async () => {
		const userId = await createUser(db());
		const base = { userId, source: 'purchase' as const, name: 'P', expiresAt: null, now: T0 };
		for (const credits of [0, -5, 1.5, Number.NaN]) {
			await expect(grant(db(), { ...base, credits, key: `bad:${credits}` })).rejects.toBeInstanceOf(
				LedgerError
			);
		}
		await expect(
			grant(db(), { ...base, credits: 5, expiresAt: at(-1), key: `${userId}:past` })
		).rejects.toMatchObject({
			code: 'invalid_amount'
		});
		await expect(
			grant(db(), { ...base, userId: 'no-such-user', credits: 5, key: `${userId}:ghost` })
		).rejects.toMatchObject({ code: 'user_not_found' });
		expect(await rowsOf(userId)).toHaveLength(0);
	});

	it('grants at most one package per Polar order, whatever the key', async () => {
		const userId = await createUser(db());
		const order = {
			userId,
			source: 'purchase' as const,
			name: 'P',
			credits: 100,
			expiresAt: null,
			now: T0
		};
		await grant(db(), { ...order, key: `${userId}:webhook-1`, polar: { orderId: 'order-1' } });
		await expect(
			grant(db(), { ...order, key: `${userId}:webhook-2`, polar: { orderId: 'order-1' } })
		).rejects.toMatchObject({ code: 'idempotency_conflict' });
		expect((await balanceOf(db(), userId, T0)).balance).toBe(100);
	});

	it('spends soonest-expiring first, never-expiring last, one usage row per package', async () => {
		const { userId, packageIds } = await userWith(
			{ credits: 5 },
			{ credits: 3, days: 10 },
			{ credits: 4, days: 5 }
		);
		const hold = await reserve(db(), { userId, upTo: 9, key: `${userId}:h1`, now: at(1) });
		expect(hold.amount).toBe(9);
		const settled = await settle(db(), {
			holdId: hold.holdId,
			cost: 9,
			metadata: { model: 'm', inputTokens: 8000, outputTokens: 1000 },
			now: at(1)
		});
		expect(settled).toMatchObject({ charged: 9, shortfall: 0, balanceAfter: 3 });
		const usage = (await rowsOf(userId)).filter((r) => r.type === 'usage');
		expect(usage.map((r) => [r.packageId, r.amount, r.balanceAfter])).toEqual([
			[packageIds[2], -4, 8],
			[packageIds[1], -3, 5],
			[packageIds[0], -2, 3]
		]);
		expect(usage[0].metadata).toMatchObject({ model: 'm', inputTokens: 8000, holdId: hold.holdId });
		await expectClean(userId);
	});

	it('reserves at most what is available and refuses below one credit', async () => {
		const { userId } = await userWith({ credits: 5 });
		const a = await reserve(db(), { userId, upTo: 3, key: `${userId}:a`, now: T0 });
		const b = await reserve(db(), { userId, upTo: 10, key: `${userId}:b`, now: T0 });
		expect([a.amount, b.amount]).toEqual([3, 2]);
		const error = await reserve(db(), { userId, upTo: 1, key: `${userId}:c`, now: T0 }).catch(
			(e) => e
		);
		expect(error).toBeInstanceOf(LedgerError);
		expect(error).toMatchObject({
			code: 'insufficient_credits',
			details: { balance: 5, available: 0 }
		});
		expect(await balanceOf(db(), userId, T0)).toMatchObject({
			balance: 5,
			reserved: 5,
			available: 0
		});
		expect(await reserve(db(), { userId, upTo: 3, key: `${userId}:a`, now: T0 })).toEqual({
			...a,
			replayed: true
		});
	});

	it('settles a hold once: replays return the first charge, a different cost conflicts', async () => {
		const { userId } = await userWith({ credits: 10 });
		const hold = await reserve(db(), { userId, upTo: 6, key: `${userId}:h`, now: T0 });
		const first = await settle(db(), { holdId: hold.holdId, cost: 4, now: T0 });
		expect(await settle(db(), { holdId: hold.holdId, cost: 4, now: T0 })).toEqual({
			...first,
			replayed: true
		});
		await expect(settle(db(), { holdId: hold.holdId, cost: 5, now: T0 })).rejects.toMatchObject({
			code: 'idempotency_conflict'
		});
		await expect(voidHold(db(), { holdId: hold.holdId, now: T0 })).rejects.toMatchObject({
			code: 'hold_already_resolved'
		});
		expect(await balanceOf(db(), userId, T0)).toMatchObject({
			balance: 6,
			reserved: 0,
			available: 6
		});
		await expectClean(userId);
	});

	it('charges beyond the hold only as far as the balance allows and records the shortfall', async () => {
		const { userId } = await userWith({ credits: 5 });
		const hold = await reserve(db(), { userId, upTo: 2, key: `${userId}:h`, now: T0 });
		const other = await reserve(db(), { userId, upTo: 1, key: `${userId}:o`, now: T0 });
		const result = await settle(db(), { holdId: hold.holdId, cost: 9, now: T0 });
		// 5 credits, 1 set aside by the other hold: at most 4 can be charged.
		expect(result).toMatchObject({ charged: 4, shortfall: 5, balanceAfter: 1 });
		const [row] = (await rowsOf(userId)).filter((r) => r.type === 'usage');
		expect(row.metadata).toMatchObject({ shortfall: 5 });
		await settle(db(), { holdId: other.holdId, cost: 1, now: T0 });
		expect(await balanceOf(db(), userId, T0)).toMatchObject({ balance: 0, available: 0 });
		await expectClean(userId);
	});

	it('voids a hold without charging and a zero-cost settle writes no row', async () => {
		const { userId } = await userWith({ credits: 3 });
		const a = await reserve(db(), { userId, upTo: 2, key: `${userId}:a`, now: T0 });
		const b = await reserve(db(), { userId, upTo: 1, key: `${userId}:b`, now: T0 });
		await voidHold(db(), { holdId: a.holdId, now: T0 });
		await settle(db(), { holdId: b.holdId, cost: 0, now: T0 });
		expect((await rowsOf(userId)).map((r) => r.type)).toEqual(['purchase']);
		expect(await balanceOf(db(), userId, T0)).toMatchObject({ balance: 3, reserved: 0 });
		const holds = await db().select().from(creditHold).where(eq(creditHold.userId, userId));
		expect(holds.map((h) => h.status).sort()).toEqual(['settled', 'voided']);
	});

	it('refunds touch only their package and never take more than it holds', async () => {
		const { userId, packageIds } = await userWith(
			{ credits: 10, days: 5 },
			{ credits: 10, days: 50 }
		);
		const hold = await reserve(db(), { userId, upTo: 7, key: `${userId}:h`, now: T0 });
		await settle(db(), { holdId: hold.holdId, cost: 7, now: T0 });
		const partial = await revokeFromPackage(db(), {
			packageId: packageIds[0],
			credits: 2,
			key: `${userId}:refund-1`,
			reason: 'Partial refund',
			now: T0
		});
		expect(partial).toMatchObject({ revoked: 2, shortfall: 0, balanceAfter: 11 });
		const full = await revokeFromPackage(db(), {
			packageId: packageIds[0],
			credits: 8,
			key: `${userId}:refund-2`,
			reason: 'Full refund',
			now: T0
		});
		expect(full).toMatchObject({ revoked: 1, shortfall: 7, balanceAfter: 10 });
		const [first, second] = await db()
			.select()
			.from(creditPackage)
			.where(eq(creditPackage.userId, userId))
			.orderBy(creditPackage.expiresAt);
		expect(first).toMatchObject({ remainingCredits: 0, revokedCredits: 3 });
		expect(second).toMatchObject({ remainingCredits: 10, revokedCredits: 0 });
		const view = await balanceOf(db(), userId, T0);
		expect(view.packages.find((p) => p.id === packageIds[0])?.status).toBe('revoked');
		await expectClean(userId);
	});

	it('adjusts by adding, subtracting and setting, always with a reason and an actor', async () => {
		const { userId } = await userWith({ credits: 10 });
		const actor = { id: 'admin-1', email: 'boss@example.com' };
		await expect(
			adjust(db(), {
				userId,
				mode: 'add',
				credits: 5,
				reason: ' ',
				actor,
				key: `${userId}:x`,
				now: T0
			})
		).rejects.toMatchObject({
			code: 'invalid_amount'
		});
		expect(
			await adjust(db(), {
				userId,
				mode: 'add',
				credits: 5,
				reason: 'Goodwill',
				actor,
				key: `${userId}:a1`,
				now: T0
			})
		).toMatchObject({
			delta: 5,
			balanceAfter: 15
		});
		expect(
			await adjust(db(), {
				userId,
				mode: 'subtract',
				credits: 3,
				reason: 'Abuse',
				actor,
				key: `${userId}:a2`,
				now: T0
			})
		).toMatchObject({
			delta: -3,
			balanceAfter: 12
		});
		expect(
			await adjust(db(), {
				userId,
				mode: 'set',
				credits: 20,
				reason: 'Match invoice',
				actor,
				key: `${userId}:a3`,
				now: T0
			})
		).toMatchObject({
			delta: 8,
			balanceAfter: 20
		});
		expect(
			await adjust(db(), {
				userId,
				mode: 'set',
				credits: 0,
				reason: 'Close account',
				actor,
				key: `${userId}:a4`,
				now: T0
			})
		).toMatchObject({
			delta: -20,
			balanceAfter: 0
		});
		await expect(
			adjust(db(), {
				userId,
				mode: 'subtract',
				credits: 1,
				reason: 'More',
				actor,
				key: `${userId}:a5`,
				now: T0
			})
		).rejects.toMatchObject({ code: 'insufficient_credits' });
		const rows = (await rowsOf(userId)).filter((r) => r.type === 'adjust');
		expect(rows.length).toBeGreaterThanOrEqual(4);
		for (const row of rows)
			expect(row.metadata).toMatchObject({ actor, reason: expect.any(String) });
		await expectClean(userId);
	});

	it('stops counting expired packages at once and the sweep writes one expire row each', async () => {
		const { userId, packageIds } = await userWith({ credits: 4, days: 2 }, { credits: 6 });
		expect((await balanceOf(db(), userId, at(1))).balance).toBe(10);
		const later = await balanceOf(db(), userId, at(3));
		expect(later.balance).toBe(6);
		expect(later.packages.find((p) => p.id === packageIds[0])).toMatchObject({
			status: 'expired',
			remainingCredits: 0
		});

		const first = await sweep(db(), { now: at(3) });
		expect(first).toMatchObject({ expiredPackages: 1, forfeitedCredits: 4 });
		expect(await sweep(db(), { now: at(4) })).toMatchObject({
			expiredPackages: 0,
			forfeitedCredits: 0
		});
		const expireRows = (await rowsOf(userId)).filter((r) => r.type === 'expire');
		expect(expireRows).toHaveLength(1);
		expect(expireRows[0]).toMatchObject({ amount: -4, balanceAfter: 6, packageId: packageIds[0] });
		await expectClean(userId);
	});

	it('resolves stale holds: charges what was owed, releases the rest', async () => {
		const { userId } = await userWith({ credits: 10 });
		const owing = await reserve(db(), {
			userId,
			upTo: 5,
			key: `${userId}:owing`,
			ttlMs: 60_000,
			now: T0
		});
		const idle = await reserve(db(), {
			userId,
			upTo: 2,
			key: `${userId}:idle`,
			ttlMs: 60_000,
			now: T0
		});
		const { recordOwed } = await import('../../src/lib/server/credits');
		await recordOwed(db(), owing.holdId, 3);
		await recordOwed(db(), owing.holdId, 1); // never lowers
		expect(await sweep(db(), { now: new Date(T0.getTime() + 30_000) })).toMatchObject({
			settledHolds: 0,
			expiredHolds: 0
		});
		expect(await sweep(db(), { now: new Date(T0.getTime() + 61_000) })).toMatchObject({
			settledHolds: 1,
			expiredHolds: 1
		});
		expect(await balanceOf(db(), userId, at(0.01))).toMatchObject({ balance: 7, reserved: 0 });
		const statuses = await db()
			.select({ id: creditHold.id, status: creditHold.status })
			.from(creditHold)
			.where(eq(creditHold.userId, userId));
		expect(Object.fromEntries(statuses.map((s) => [s.id, s.status]))).toEqual({
			[owing.holdId]: 'settled',
			[idle.holdId]: 'expired'
		});
	});

	it('lists transactions newest first with stable keyset pages and a type filter', async () => {
		const { userId } = await userWith({ credits: 50 });
		for (let i = 0; i < 5; i++) {
			const hold = await reserve(db(), { userId, upTo: 2, key: `${userId}:h${i}`, now: T0 });
			await settle(db(), { holdId: hold.holdId, cost: 1, now: T0 });
		}
		const page1 = await listTransactions(db(), userId, { limit: 2 });
		expect(page1.items.map((i) => i.balanceAfter)).toEqual([45, 46]);
		// A new row arriving between pages does not shift the next page.
		await adjust(db(), {
			userId,
			mode: 'add',
			credits: 1,
			reason: 'r',
			actor: 'test',
			key: `${userId}:late`,
			now: T0
		});
		const page2 = await listTransactions(db(), userId, {
			limit: 2,
			cursor: parseCursor(page1.nextCursor!)
		});
		expect(page2.items.map((i) => i.balanceAfter)).toEqual([47, 48]);
		const page3 = await listTransactions(db(), userId, {
			limit: 2,
			cursor: parseCursor(page2.nextCursor!)
		});
		expect(page3.items.map((i) => i.type)).toEqual(['usage', 'purchase']);
		expect(page3.nextCursor).toBeNull();
		const purchases = await listTransactions(db(), userId, { limit: 10, types: ['purchase'] });
		expect(purchases.items).toHaveLength(1);
		const other = await createUser(db());
		expect((await listTransactions(db(), other, { limit: 10 })).items).toEqual([]);
	});

	it('keeps the ledger append-only and the package constraints enforced by the database', async () => {
		const { userId, packageIds } = await userWith({ credits: 5 });
		await expect(
			db().execute(sql`update credit_transaction set amount = 50 where user_id = ${userId}`)
		).rejects.toThrow();
		await expect(
			db().execute(sql`delete from credit_transaction where user_id = ${userId}`)
		).rejects.toThrow();
		await expect(
			db()
				.update(creditPackage)
				.set({ remainingCredits: 6 })
				.where(eq(creditPackage.id, packageIds[0]))
		).rejects.toThrow();
		await expect(
			db()
				.update(creditPackage)
				.set({ remainingCredits: -1 })
				.where(eq(creditPackage.id, packageIds[0]))
		).rejects.toThrow();
	});

	it('verify catches a hand-corrupted package and a forged ledger row', async () => {
		const { userId, packageIds } = await userWith({ credits: 5 }, { credits: 5 });
		await expectClean(userId);
		await db()
			.update(creditPackage)
			.set({ remainingCredits: 4 })
			.where(eq(creditPackage.id, packageIds[0]));
		await db()
			.insert(creditTransaction)
			.values({
				userId,
				packageId: packageIds[1],
				type: 'grant',
				amount: 1,
				balanceAfter: 99,
				description: 'forged',
				idempotencyKey: `forged:${userId}`
			});
		const report = await verify(db(), { userId });
		expect(report.drifts).toEqual(
			expect.arrayContaining([
				expect.objectContaining({
					packageId: packageIds[0],
					problem: expect.stringContaining('remaining_credits'),
					expected: 5,
					actual: 4
				}),
				expect.objectContaining({ packageId: packageIds[1], expected: 6, actual: 5 }),
				expect.objectContaining({ problem: expect.stringContaining('balance_after'), actual: 99 })
			])
		);
	});
});
