import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { handlePolarWebhook } from '../../src/lib/server/billing/webhook';
import { grant, reserve, settle } from '../../src/lib/server/credits';
import {
	checkLowBalance,
	dismissLowBalanceNotice,
	lowBalanceOf,
	setLowBalanceNotifier,
	setLowBalanceThreshold,
	type LowBalanceCrossing
} from '../../src/lib/server/credits/low-balance';
import type { Db } from '../../src/lib/server/db/client';
import { creditAlert } from '../../src/lib/server/db/schema';
import { databaseKinds, useTestDatabase } from '../helpers/databases';
import { expectNoDrift, userWith } from '../helpers/ledger';
import {
	newWebhookSecret,
	orderPaid,
	orderRefunded,
	polarOrder,
	refunded,
	signDelivery
} from '../helpers/polar-events';
import { createUser } from '../helpers/users';

/** A reply that costs `cost` credits, reserved and settled through the ledger. */
async function spend(db: Db, userId: string, cost: number, key: string) {
	const hold = await reserve(db, { userId, upTo: cost, key: `hold:${key}` });
	await settle(db, { holdId: hold.holdId, cost, description: 'Reply', key: `settle:${key}` });
}

async function topUp(db: Db, userId: string, credits: number, key: string) {
	await grant(db, {
		userId,
		source: 'purchase',
		name: 'Top-up',
		credits,
		expiresAt: null,
		key: `topup:${key}`
	});
}

/** Records what the email side would have been asked to send. */
function recorder() {
	const sent: LowBalanceCrossing[] = [];
	return { sent, notify: async (crossing: LowBalanceCrossing) => void sent.push(crossing) };
}

async function alertRow(db: Db, userId: string) {
	const [row] = await db.select().from(creditAlert).where(eq(creditAlert.userId, userId));
	return row;
}

describe.each(databaseKinds)('the low-balance alert on %s', (kind) => {
	const database = useTestDatabase(kind);

	it('does nothing for a user without a threshold', async () => {
		const { db } = database();
		const { userId } = await userWith(db, { credits: 50 });
		const mail = recorder();
		await spend(db, userId, 45, `${userId}:1`);
		expect(await checkLowBalance(db, userId, new Date(), mail.notify)).toBeNull();
		expect(mail.sent).toEqual([]);
		expect(await lowBalanceOf(db, userId)).toEqual({ threshold: null, notice: null });
	});

	it('fires once per downward crossing, re-arms at or above the threshold, and fires again', async () => {
		const { db } = database();
		const { userId } = await userWith(db, { credits: 500 });
		const mail = recorder();
		await setLowBalanceThreshold(db, userId, 100);
		expect(await alertRow(db, userId)).toMatchObject({ threshold: 100, armed: true });
		// Above the threshold: nothing.
		await spend(db, userId, 350, `${userId}:1`);
		expect(await checkLowBalance(db, userId, new Date(), mail.notify)).toBeNull();

		// 150 -> 90: the crossing.
		await spend(db, userId, 60, `${userId}:2`);
		const firedAt = new Date();
		expect(await checkLowBalance(db, userId, firedAt, mail.notify)).toBe('fired');
		expect(mail.sent).toHaveLength(1);
		expect(mail.sent[0]).toMatchObject({ userId, threshold: 100, available: 90 });
		expect(mail.sent[0].email).toMatch(/@example\.com$/);
		expect(await alertRow(db, userId)).toMatchObject({
			armed: false,
			firedAvailable: 90,
			dismissedAt: null
		});
		expect(await lowBalanceOf(db, userId)).toEqual({
			threshold: 100,
			notice: { firedAt: firedAt.toISOString(), available: 90, threshold: 100 }
		});

		// Still below: no second notice for the same crossing.
		await spend(db, userId, 40, `${userId}:3`);
		expect(await checkLowBalance(db, userId, new Date(), mail.notify)).toBeNull();
		expect(mail.sent).toHaveLength(1);

		// Dismissed: the notice goes; a second dismiss finds nothing.
		expect(await dismissLowBalanceNotice(db, userId)).toBe(true);
		expect(await dismissLowBalanceNotice(db, userId)).toBe(false);
		expect((await lowBalanceOf(db, userId)).notice).toBeNull();

		// 50 + 50 = exactly the threshold: armed again, nothing sent.
		await topUp(db, userId, 50, userId);
		expect(await checkLowBalance(db, userId, new Date(), mail.notify)).toBe('rearmed');
		expect(await checkLowBalance(db, userId, new Date(), mail.notify)).toBeNull();
		expect(await alertRow(db, userId)).toMatchObject({ armed: true });
		expect(mail.sent).toHaveLength(1);

		// The next crossing fires again and shows the notice again.
		await spend(db, userId, 1, `${userId}:4`);
		expect(await checkLowBalance(db, userId, new Date(), mail.notify)).toBe('fired');
		expect(mail.sent.map((m) => m.available)).toEqual([90, 99]);
		expect((await lowBalanceOf(db, userId)).notice).toMatchObject({ available: 99 });
		await expectNoDrift(db, userId);
	});

	it('counts credits held for replies in progress as gone', async () => {
		const { db } = database();
		const { userId } = await userWith(db, { credits: 200 });
		await setLowBalanceThreshold(db, userId, 100);
		const mail = recorder();
		await reserve(db, { userId, upTo: 150, key: `hold:${userId}` });
		expect(await checkLowBalance(db, userId, new Date(), mail.notify)).toBe('fired');
		expect(mail.sent[0].available).toBe(50);
	});

	it('is not a crossing to set a threshold above the credits: it arms once they are back', async () => {
		const { db } = database();
		const { userId } = await userWith(db, { credits: 30 });
		const mail = recorder();
		await setLowBalanceThreshold(db, userId, 100);
		expect(await alertRow(db, userId)).toMatchObject({ armed: false, firedAt: null });
		expect(await checkLowBalance(db, userId, new Date(), mail.notify)).toBeNull();
		expect(mail.sent).toEqual([]);
		await topUp(db, userId, 100, userId);
		expect(await checkLowBalance(db, userId, new Date(), mail.notify)).toBe('rearmed');
		await spend(db, userId, 40, `${userId}:1`);
		expect(await checkLowBalance(db, userId, new Date(), mail.notify)).toBe('fired');
		expect(mail.sent).toHaveLength(1);
	});

	it('changes and clears the threshold, and refuses one out of range', async () => {
		const { db } = database();
		const { userId } = await userWith(db, { credits: 500 });
		await setLowBalanceThreshold(db, userId, 100);
		await setLowBalanceThreshold(db, userId, 1_000_000);
		expect(await alertRow(db, userId)).toMatchObject({ threshold: 1_000_000, armed: false });
		for (const bad of [0, -5, 1.5, 1_000_001, Number.NaN]) {
			await expect(setLowBalanceThreshold(db, userId, bad)).rejects.toThrow(RangeError);
		}
		expect((await lowBalanceOf(db, userId)).threshold).toBe(1_000_000);
		await setLowBalanceThreshold(db, userId, null);
		expect(await alertRow(db, userId)).toBeUndefined();
		expect(await lowBalanceOf(db, userId)).toEqual({ threshold: null, notice: null });
	});

	it('fires when a signed Polar refund takes credits back below the threshold', async () => {
		const { db } = database();
		const secret = newWebhookSecret();
		const deliver = (event: unknown) => {
			const signed = signDelivery(event, { secret });
			return handlePolarWebhook(db, { body: signed.body, headers: signed.headers }, secret);
		};
		const userId = await createUser(db);
		const order = polarOrder({
			userId,
			netAmount: 1000,
			product: { metadata: { credits: '1000' } }
		});
		expect((await deliver(orderPaid(order))).status).toBe(200);
		await setLowBalanceThreshold(db, userId, 500);
		const mail = recorder();
		// The runtime's notifier: what the webhook route reaches without being handed one.
		setLowBalanceNotifier(mail.notify);
		try {
			expect((await deliver(orderRefunded(refunded(order, { amount: 300 })))).status).toBe(200);
			expect(mail.sent).toEqual([]);
			expect((await deliver(orderRefunded(refunded(order, { amount: 600 })))).status).toBe(200);
			expect(mail.sent).toHaveLength(1);
			expect(mail.sent[0]).toMatchObject({ userId, threshold: 500, available: 400 });
			expect((await lowBalanceOf(db, userId)).notice).toMatchObject({ available: 400 });
		} finally {
			setLowBalanceNotifier(null);
		}
	});

	it('keeps the crossing when telling the user fails', async () => {
		const { db } = database();
		const { userId } = await userWith(db, { credits: 20 });
		await setLowBalanceThreshold(db, userId, 10);
		await spend(db, userId, 15, `${userId}:1`);
		const failing = async () => {
			throw new Error('SMTP is down');
		};
		expect(await checkLowBalance(db, userId, new Date(), failing)).toBe('fired');
		expect((await lowBalanceOf(db, userId)).notice).toMatchObject({ available: 5 });
	});
});

// PGlite runs one transaction at a time and can never show a race.
describe('the low-balance alert under concurrency on postgres', () => {
	const database = useTestDatabase('postgres', { maxConnections: 20 });

	it('sends one notice for 20 replies settling at once across the threshold', async () => {
		const { db } = database();
		const { userId } = await userWith(db, { credits: 1_000 });
		await setLowBalanceThreshold(db, userId, 900);
		const mail = recorder();
		// 20 replies of 10 credits: the balance goes 1,000 -> 800 and crosses 900 once.
		const results = await Promise.all(
			Array.from({ length: 20 }, async (_, i) => {
				await spend(db, userId, 10, `${userId}:${i}`);
				return checkLowBalance(db, userId, new Date(), mail.notify);
			})
		);
		expect(results.filter((r) => r === 'fired')).toHaveLength(1);
		expect(results.filter((r) => r === 'rearmed')).toHaveLength(0);
		expect(mail.sent).toHaveLength(1);
		expect(mail.sent[0].available).toBeLessThan(900);
		expect(await alertRow(db, userId)).toMatchObject({ armed: false });
		await expectNoDrift(db, userId);
	});

	it('sends one notice when 20 checks race after one crossing, and re-arms once', async () => {
		const { db } = database();
		const { userId } = await userWith(db, { credits: 100 });
		await setLowBalanceThreshold(db, userId, 50);
		await spend(db, userId, 60, `${userId}:1`);
		const mail = recorder();
		const fired = await Promise.all(
			Array.from({ length: 20 }, () => checkLowBalance(db, userId, new Date(), mail.notify))
		);
		expect(fired.filter((r) => r === 'fired')).toHaveLength(1);
		expect(mail.sent).toHaveLength(1);
		await topUp(db, userId, 100, userId);
		const rearmed = await Promise.all(
			Array.from({ length: 20 }, () => checkLowBalance(db, userId, new Date(), mail.notify))
		);
		expect(rearmed.filter((r) => r === 'rearmed')).toHaveLength(1);
		expect(rearmed.filter((r) => r === 'fired')).toHaveLength(0);
		expect(mail.sent).toHaveLength(1);
	});
});
