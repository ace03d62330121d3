import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { adminAdjust } from '../../src/lib/server/admin/credits';
import { searchUsers, userDetail } from '../../src/lib/server/admin/users';
import { balanceOf, LedgerError, reserve, settle } from '../../src/lib/server/credits';
import { adminAudit, creditTransaction } from '../../src/lib/server/db/schema';
import { databaseKinds, useTestDatabase } from '../helpers/databases';
import { expectNoDrift, ledgerRows, userWith } from '../helpers/ledger';

const actor = { id: 'admin-1', email: 'admin@example.com' };

const auditOf = (db: Parameters<typeof adminAdjust>[0], userId: string) =>
	db.select().from(adminAudit).where(eq(adminAudit.targetUserId, userId));

describe.each(databaseKinds)('admin credits on %s', (kind) => {
	const database = useTestDatabase(kind);
	const db = () => database().db;

	it('writes the ledger row and the audit row together', async () => {
		const { userId } = await userWith(db(), { credits: 100 });
		const result = await adminAdjust(db(), {
			actor,
			userId,
			action: 'subtract',
			amount: 30,
			reason: '  goodwill correction ',
			key: 'k-sub'
		});
		expect(result).toMatchObject({ delta: -30, balanceAfter: 70, replayed: false });
		const rows = (await ledgerRows(db(), userId)).filter((r) => r.type === 'adjust');
		expect(rows).toHaveLength(1);
		expect(rows[0].metadata).toMatchObject({ reason: 'goodwill correction', actor });
		const audit = await auditOf(db(), userId);
		expect(audit).toHaveLength(1);
		expect(audit[0]).toMatchObject({
			action: 'credits.subtract',
			reason: 'goodwill correction',
			balanceBefore: 100,
			balanceAfter: 70,
			actorId: actor.id
		});
		await expectNoDrift(db(), userId);
	});

	it('a refused adjust writes neither a ledger row nor an audit row', async () => {
		const { userId } = await userWith(db(), { credits: 10 });
		const before = (await ledgerRows(db(), userId)).length;
		for (const [action, amount] of [
			['subtract', 11],
			['set', -1]
		] as const) {
			await expect(
				adminAdjust(db(), { actor, userId, action, amount, reason: 'too much', key: `k-${action}` })
			).rejects.toBeInstanceOf(LedgerError);
		}
		expect(await ledgerRows(db(), userId)).toHaveLength(before);
		expect(await auditOf(db(), userId)).toEqual([]);
		expect((await balanceOf(db(), userId)).balance).toBe(10);
	});

	it('a replayed key writes once; the same key with another reason is a conflict', async () => {
		const { userId } = await userWith(db(), { credits: 5 });
		const input = {
			actor,
			userId,
			action: 'add' as const,
			amount: 7,
			reason: 'promo',
			key: 'k-add'
		};
		const first = await adminAdjust(db(), input);
		const again = await adminAdjust(db(), input);
		expect(again).toEqual({ ...first, replayed: true });
		await expect(adminAdjust(db(), { ...input, reason: 'other' })).rejects.toMatchObject({
			code: 'idempotency_conflict'
		});
		expect((await balanceOf(db(), userId)).balance).toBe(12);
		expect(await auditOf(db(), userId)).toHaveLength(1);
	});

	it('lists users with balance, reserved, purchased and spent from one query', async () => {
		const { userId } = await userWith(db(), { credits: 50 });
		const hold = await reserve(db(), { userId, upTo: 20, key: `${userId}:h` });
		await settle(db(), { holdId: hold.holdId, cost: 8 });
		await reserve(db(), { userId, upTo: 5, key: `${userId}:h2` });
		const [row] = (await searchUsers(db(), { limit: 100 })).items.filter((u) => u.id === userId);
		expect(row).toMatchObject({ balance: 42, reserved: 5, available: 37, purchased: 50, spent: 8 });
		expect(row.lastActiveAt).toMatch(/^\d{4}-\d\d-\d\dT/);
		const detail = await userDetail(db(), userId);
		expect(detail?.holds).toHaveLength(1);
		expect(detail?.packages).toHaveLength(1);
		expect(await userDetail(db(), 'no-such-user')).toBeNull();
	});
});

describe('admin adjusts racing chat settlements (real PostgreSQL)', () => {
	const database = useTestDatabase('postgres', { maxConnections: 20 });
	const db = () => database().db;

	it('30 concurrent adjusts and 30 reserve/settle cycles on one user stay exact', async () => {
		const { userId } = await userWith(db(), { credits: 1_000 });
		const adjusts = Array.from({ length: 30 }, (_, i) =>
			adminAdjust(db(), {
				actor,
				userId,
				action: i % 3 === 0 ? 'subtract' : 'add',
				amount: 5 + (i % 4),
				reason: `race ${i}`,
				key: `race-${userId}-${i}`
			})
		);
		const chats = Array.from({ length: 30 }, async (_, i) => {
			const hold = await reserve(db(), { userId, upTo: 10, key: `${userId}:c${i}` });
			return settle(db(), { holdId: hold.holdId, cost: 1 + (i % 3) });
		});
		const results = await Promise.all([...adjusts, ...chats]);
		const adjusted = results
			.slice(0, 30)
			.reduce((total, r) => total + ('delta' in r ? r.delta : 0), 0);
		const expectedAdjust = Array.from({ length: 30 }, (_, i) =>
			i % 3 === 0 ? -(5 + (i % 4)) : 5 + (i % 4)
		).reduce((a, b) => a + b, 0);
		expect(adjusted).toBe(expectedAdjust);
		const charged = Array.from({ length: 30 }, (_, i) => 1 + (i % 3)).reduce((a, b) => a + b, 0);
		const view = await balanceOf(db(), userId);
		expect(view.balance).toBe(1_000 + expectedAdjust - charged);
		expect(view.reserved).toBe(0);
		await expectNoDrift(db(), userId);
		const audit = await auditOf(db(), userId);
		expect(audit).toHaveLength(30);
		const usage = await db()
			.select()
			.from(creditTransaction)
			.where(eq(creditTransaction.userId, userId));
		expect(usage.filter((r) => r.type === 'usage').reduce((t, r) => t - r.amount, 0)).toBe(charged);
	});
});
