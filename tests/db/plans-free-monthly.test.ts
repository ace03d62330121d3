import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantFreeMonthly, grantFreeMonthlyTo } from '../../src/lib/server/credits/free-monthly';
import { grantWelcomeCredits } from '../../src/lib/server/credits/signup-bonus';
import { openDatabase, type Database, type Db } from '../../src/lib/server/db/client';
import { creditPackage, user } from '../../src/lib/server/db/schema';
import { databaseKinds, useTestDatabase } from '../helpers/databases';
import { expectNoDrift } from '../helpers/ledger';
import { createUser } from '../helpers/users';

const freeOf = (db: Db, userId: string) =>
	db
		.select()
		.from(creditPackage)
		.where(eq(creditPackage.userId, userId))
		.then((rows) => rows.filter((p) => p.source === 'free_monthly'));

async function userWhere(db: Db, state: { verified: boolean; banned?: boolean }) {
	const id = await createUser(db);
	await db
		.update(user)
		.set({ emailVerified: state.verified, banned: state.banned ?? false })
		.where(eq(user.id, id));
	return id;
}

describe.each(databaseKinds)('free monthly credits on %s', (kind) => {
	const database = useTestDatabase(kind);
	const db = () => database().db;

	it('grants each eligible user one package per UTC month, valid until the month ends', async () => {
		const verified = await userWhere(db(), { verified: true });
		const unverified = await userWhere(db(), { verified: false });
		const banned = await userWhere(db(), { verified: true, banned: true });
		const nov = new Date('2026-11-14T08:00:00Z');
		const options = { credits: 50, requireVerifiedEmail: true, batch: 2 };

		await grantFreeMonthly(db(), options, nov);
		await grantFreeMonthly(db(), options, new Date('2026-11-30T23:59:59Z'));
		const [pkg] = await freeOf(db(), verified);
		expect(await freeOf(db(), verified)).toHaveLength(1);
		expect(pkg).toMatchObject({
			initialCredits: 50,
			freeMonth: '2026-11',
			expiresAt: new Date('2026-12-01T00:00:00Z')
		});
		expect(await freeOf(db(), unverified)).toEqual([]);
		expect(await freeOf(db(), banned)).toEqual([]);

		// Without email verification, unverified users are eligible too (banned ones never).
		await grantFreeMonthly(db(), { ...options, requireVerifiedEmail: false }, nov);
		expect(await freeOf(db(), unverified)).toHaveLength(1);
		expect(await freeOf(db(), banned)).toEqual([]);

		// A new month, a new package; the old one expires on its own.
		await grantFreeMonthly(db(), options, new Date('2026-12-01T00:00:01Z'));
		const months = (await freeOf(db(), verified)).map((p) => p.freeMonth).sort();
		expect(months).toEqual(['2026-11', '2026-12']);
		await expectNoDrift(db(), verified);
	});

	it('is off at 0 and gives a new user the current month at sign-up, once', async () => {
		const userId = await userWhere(db(), { verified: true });
		const now = new Date('2026-11-20T10:00:00Z');
		expect(await grantFreeMonthly(db(), { credits: 0, requireVerifiedEmail: false }, now)).toBe(0);
		expect(await freeOf(db(), userId)).toEqual([]);

		await grantWelcomeCredits(db(), userId, { credits: 8, days: 30 }, 25, now);
		await grantWelcomeCredits(db(), userId, { credits: 8, days: 30 }, 25, now);
		expect((await freeOf(db(), userId)).map((p) => p.initialCredits)).toEqual([25]);
		// The monthly job later that month finds the package and grants nothing more.
		await grantFreeMonthly(db(), { credits: 25, requireVerifiedEmail: true }, now);
		expect(await freeOf(db(), userId)).toHaveLength(1);
		// Even when FREE_MONTHLY_CREDITS changed mid-month.
		expect(await grantFreeMonthlyTo(db(), userId, 40, now)).toBe(false);
		expect(await freeOf(db(), userId)).toHaveLength(1);
	});
});

describe('free monthly job on 4 instances at once (PostgreSQL)', () => {
	const database = useTestDatabase('postgres');
	const instances: Database[] = [];
	beforeAll(() => {
		for (let i = 0; i < 4; i++) {
			instances.push(openDatabase({ url: database().url!, dataDir: null, maxConnections: 3 }));
		}
	});
	afterAll(async () => {
		await Promise.all(instances.map((instance) => instance.close()));
	});

	it('grants each user once whichever instance gets there first', async () => {
		const db = database().db;
		const users: string[] = [];
		for (let i = 0; i < 25; i++) users.push(await userWhere(db, { verified: true }));
		const now = new Date('2026-11-01T00:00:05Z');
		const granted = await Promise.all(
			instances.map((instance) =>
				grantFreeMonthly(instance.db, { credits: 30, requireVerifiedEmail: true, batch: 4 }, now)
			)
		);
		expect(granted.reduce((a, b) => a + b, 0)).toBe(25);
		for (const userId of users) {
			expect(await freeOf(db, userId)).toHaveLength(1);
			await expectNoDrift(db, userId);
		}
	});
});
