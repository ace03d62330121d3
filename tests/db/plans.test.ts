import { randomUUID } from 'node:crypto';
import type { models } from '@polar-sh/sdk/2026-10';
import { and, asc, eq, isNull } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plans, type Plan } from '../../config/plans';
import { grantDueAllocations } from '../../src/lib/server/billing/allocations';
import { planMetadataOf } from '../../src/lib/server/billing/seed-products';
import { handlePolarWebhook } from '../../src/lib/server/billing/webhook';
import { reserve, settle } from '../../src/lib/server/credits';
import { openDatabase, type Database, type Db } from '../../src/lib/server/db/client';
import {
	billingSubscription,
	creditAllocation,
	creditPackage
} from '../../src/lib/server/db/schema';
import { databaseKinds, useTestDatabase } from '../helpers/databases';
import { DAY, expectNoDrift } from '../helpers/ledger';
import {
	newWebhookSecret,
	orderPaid,
	orderRefunded,
	polarOrder,
	refunded,
	signDelivery
} from '../helpers/polar-events';
import { createUser } from '../helpers/users';

const secret = newWebhookSecret();
const planOf = (key: string): Plan => plans.find((p) => p.key === key)!;
const yearly = planOf('pro-yearly');
const monthly = planOf('pro-monthly');

/** Signs an event as Polar does and hands it to the webhook handler at ledger time `now`. */
async function deliver(db: Db, event: unknown, now: Date) {
	const signed = signDelivery(event, { secret });
	const answer = await handlePolarWebhook(db, signed, secret, now);
	expect(answer.status).toBe(200);
	return answer.body as { outcome: string };
}

/** A product published from config/plans.ts (the metadata seed-products writes). */
function planProduct(plan: Plan, extra: Record<string, string | number | boolean> = {}) {
	return {
		id: `prod_${plan.key}`,
		name: plan.name,
		metadata: { ...planMetadataOf(plan), ...extra },
		recurringInterval: plan.interval === 'once' ? undefined : plan.interval
	};
}

/** A `subscription.*` event of the subscription behind `order`, as Polar sends it. */
function subscriptionEvent(
	type: string,
	order: models.Order,
	state: { status: string; modifiedAt: Date; endedAt?: Date | null; cancelAtPeriodEnd?: boolean }
) {
	const s = order.subscription!;
	return {
		type,
		timestamp: state.modifiedAt.toISOString(),
		api_version: '2026-10',
		data: {
			...s,
			status: state.status,
			modified_at: state.modifiedAt.toISOString(),
			cancel_at_period_end: state.cancelAtPeriodEnd ?? false,
			ended_at: state.endedAt?.toISOString() ?? null,
			custom_field_data: {},
			customer: order.customer,
			product: { ...order.product, is_deletable: false, prices: [], benefits: [], medias: [] },
			discount: null,
			prices: [],
			meters: [],
			pending_update: null
		}
	};
}

const packagesOf = (db: Db, userId: string) =>
	db
		.select()
		.from(creditPackage)
		.where(eq(creditPackage.userId, userId))
		.orderBy(asc(creditPackage.createdAt), asc(creditPackage.allocationMonth));

/** `date` at UTC 12:00. */
const noon = (date: Date) =>
	new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), 12));

describe.each(databaseKinds)('plans on %s', (kind) => {
	const database = useTestDatabase(kind);
	const db = () => database().db;

	it('allocates a yearly plan monthly over a simulated year: 12 packages, none twice', async () => {
		const userId = await createUser(db());
		// The 31st: months without one start on their last day, and the next month is the 31st again.
		const start = new Date('2027-01-31T10:00:00Z');
		const end = new Date('2028-01-31T10:00:00Z');
		const order = polarOrder({
			userId,
			product: planProduct(yearly),
			billingReason: 'subscription_create',
			netAmount: yearly.priceAmount,
			subscription: { periodStart: start, periodEnd: end },
			createdAt: start
		});
		expect(await deliver(db(), orderPaid(order), start)).toMatchObject({ outcome: 'processed' });
		// A redelivery under another webhook id grants nothing.
		expect(await deliver(db(), orderPaid(order), start)).toMatchObject({ outcome: 'ignored' });

		// Every day of the year and a month beyond, the job runs twice (two instances, one after
		// the other).
		for (let t = noon(start).getTime(); t < end.getTime() + 40 * DAY; t += DAY) {
			await grantDueAllocations(db(), new Date(t));
			await grantDueAllocations(db(), new Date(t + 60_000));
		}

		const packages = (await packagesOf(db(), userId)).filter((p) => p.source !== 'bonus');
		expect(packages.map((p) => p.allocationMonth)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
		const expectedStarts = [
			'2027-01-31',
			'2027-02-28',
			'2027-03-31',
			'2027-04-30',
			'2027-05-31',
			'2027-06-30',
			'2027-07-31',
			'2027-08-31',
			'2027-09-30',
			'2027-10-31',
			'2027-11-30',
			'2027-12-31'
		];
		for (const [i, pkg] of packages.entries()) {
			expect(pkg).toMatchObject({
				source: 'subscription',
				initialCredits: 3000,
				dailyLimit: 600,
				polarSubscriptionId: order.subscription!.id,
				frozenAt: null
			});
			// Month 1 at the order; the others on the day they were due.
			expect(pkg.createdAt.toISOString().slice(0, 10)).toBe(expectedStarts[i]);
			const nextStart = i < 11 ? new Date(`${expectedStarts[i + 1]}T10:00:00Z`) : null;
			expect(pkg.expiresAt).toEqual(
				nextStart ? new Date(nextStart.getTime() + 7 * DAY) : end // the last: the period end
			);
		}
		// Only month 1 carries the order id (unique per order).
		expect(packages.filter((p) => p.polarOrderId === order.id)).toHaveLength(1);
		const [allocation] = await db()
			.select()
			.from(creditAllocation)
			.where(eq(creditAllocation.polarOrderId, order.id));
		expect(allocation).toMatchObject({ months: 12, monthsGranted: 12, nextAt: null });
		await expectNoDrift(db(), userId);
	});

	it('catches up the months a stopped job missed, skipping only those already over', async () => {
		const userId = await createUser(db());
		const start = new Date('2027-03-01T00:00:00Z');
		const order = polarOrder({
			userId,
			product: planProduct(yearly),
			billingReason: 'subscription_create',
			subscription: { periodStart: start, periodEnd: new Date('2028-03-01T00:00:00Z') },
			createdAt: start
		});
		await deliver(db(), orderPaid(order), start);
		// The job was down until 3 June: April is over (its credits lapsed 8 May), May and June are not.
		expect(await grantDueAllocations(db(), new Date('2027-06-03T00:00:00Z'))).toBe(2);
		const packages = await packagesOf(db(), userId);
		expect(packages.map((p) => p.allocationMonth)).toEqual([1, 3, 4]);
		const [allocation] = await db()
			.select()
			.from(creditAllocation)
			.where(eq(creditAllocation.polarOrderId, order.id));
		expect(allocation).toMatchObject({
			monthsGranted: 4,
			nextAt: new Date('2027-07-01T00:00:00Z')
		});
	});

	it('refund mid-year: stops the allocation and revokes each granted month and its bonus pro rata', async () => {
		const userId = await createUser(db());
		const start = new Date('2027-01-01T00:00:00Z');
		const order = polarOrder({
			userId,
			product: planProduct(yearly, { bonus_credits: 300 }),
			billingReason: 'subscription_create',
			netAmount: 9000,
			subscription: { periodStart: start, periodEnd: new Date('2028-01-01T00:00:00Z') },
			createdAt: start
		});
		await deliver(db(), orderPaid(order), start);
		const june = new Date('2027-06-02T00:00:00Z');
		for (let month = 2; month <= 6; month++) {
			await grantDueAllocations(db(), new Date(Date.UTC(2027, month - 1, 2)));
		}
		// 100 credits spent in June, from June's package (the soonest to expire that is still valid).
		const hold = await reserve(db(), { userId, upTo: 100, key: `spend:${userId}`, now: june });
		await settle(db(), { holdId: hold.holdId, cost: 100, now: june });

		// Half the order refunded: every granted month (and its bonus) loses half its credits, as far
		// as it still holds them.
		const half = refunded(order, { amount: 4500 });
		const answer = await deliver(db(), orderRefunded(half), june);
		expect(answer).toMatchObject({ outcome: 'processed' });
		let packages = await packagesOf(db(), userId);
		const months = packages.filter((p) => p.source !== 'bonus');
		const bonuses = packages.filter((p) => p.source === 'bonus');
		expect(months.map((p) => p.allocationMonth)).toEqual([1, 2, 3, 4, 5, 6]);
		expect(bonuses).toHaveLength(6);
		for (const pkg of months) expect(pkg.revokedCredits).toBe(1500);
		for (const pkg of bonuses) expect(pkg.revokedCredits).toBe(150);
		const remaining = (rows: typeof packages) => rows.reduce((n, p) => n + p.remainingCredits, 0);
		expect(remaining(packages)).toBe(6 * 1500 + 6 * 150 - 100);

		// The rest refunded later: everything still unspent goes; the 100 spent stay spent.
		await deliver(db(), orderRefunded(refunded(order, { amount: 9000 })), june);
		packages = await packagesOf(db(), userId);
		for (const pkg of packages) {
			expect(pkg.remainingCredits).toBe(0);
		}
		expect(packages.reduce((n, p) => n + p.revokedCredits, 0)).toBe(6 * 3300 - 100);

		// No further months, however long the job runs (it may grant other users' months).
		for (const month of [7, 8, 9, 12]) {
			await grantDueAllocations(db(), new Date(Date.UTC(2027, month - 1, 2)));
		}
		expect(await packagesOf(db(), userId)).toHaveLength(12);
		const [allocation] = await db()
			.select()
			.from(creditAllocation)
			.where(eq(creditAllocation.polarOrderId, order.id));
		expect(allocation.stoppedAt).toEqual(june);
		expect(allocation).toMatchObject({ monthsGranted: 6, nextAt: null });
		await expectNoDrift(db(), userId);
	});

	it('grants a pack with its bonus package and revokes both in proportion on refund', async () => {
		const userId = await createUser(db());
		const now = new Date('2027-02-01T00:00:00Z');
		const order = polarOrder({
			userId,
			product: { name: '5,000 credits', metadata: { credits: 5000, bonus_credits: 750 } },
			netAmount: 2500,
			createdAt: now
		});
		await deliver(db(), orderPaid(order), now);
		let [pkg, bonus] = await packagesOf(db(), userId);
		expect(pkg).toMatchObject({ source: 'purchase', initialCredits: 5000, expiresAt: null });
		expect(bonus).toMatchObject({
			source: 'bonus',
			initialCredits: 750,
			parentPackageId: pkg.id,
			expiresAt: null
		});
		await deliver(db(), orderRefunded(refunded(order, { amount: 1000 })), now);
		[pkg, bonus] = await packagesOf(db(), userId);
		expect(pkg.revokedCredits).toBe(2000); // 5000 × 1000 / 2500
		expect(bonus.revokedCredits).toBe(300); // 750 × 1000 / 2500
		await expectNoDrift(db(), userId);
	});

	it('upgrade grants the difference for the period at once; downgrade nothing until the next cycle', async () => {
		const userId = await createUser(db());
		const start = new Date('2027-04-01T00:00:00Z');
		const periodEnd = new Date('2027-05-01T00:00:00Z');
		const subscription = { id: `sub_${randomUUID()}`, periodStart: start, periodEnd };
		const first = polarOrder({
			userId,
			product: planProduct(monthly),
			billingReason: 'subscription_create',
			subscription,
			createdAt: start
		});
		await deliver(db(), orderPaid(first), start);

		// Mid-period upgrade to a plan of rank 2 with 3,000 a month (its update event arrives first).
		const better = { ...planOf('pro-yearly'), key: 'pro-plus', interval: 'month' as const };
		const mid = new Date('2027-04-15T00:00:00Z');
		const upgrade = polarOrder({
			userId,
			product: planProduct(better, { allocation_months: 1 }),
			billingReason: 'subscription_update',
			subscription,
			createdAt: mid
		});
		await deliver(
			db(),
			subscriptionEvent('subscription.updated', upgrade, { status: 'active', modifiedAt: mid }),
			mid
		);
		expect(await deliver(db(), orderPaid(upgrade), mid)).toMatchObject({ outcome: 'processed' });
		let packages = await packagesOf(db(), userId);
		// The difference, 1,000 a month, for the 16 of 30 days left: floor(1000 × 16 / 30).
		expect(packages.map((p) => [p.initialCredits, p.dailyLimit])).toEqual([
			[2000, 400],
			[533, 600]
		]);
		// It lasts as long as the period's credits: the period end plus the grace days.
		expect(packages[1].expiresAt).toEqual(new Date(periodEnd.getTime() + 7 * DAY));
		expect(packages[1].name).toContain('upgrade');

		// Back down to rank 1: nothing now.
		const later = new Date('2027-04-20T00:00:00Z');
		const downgrade = polarOrder({
			userId,
			product: planProduct(monthly),
			billingReason: 'subscription_update',
			subscription,
			createdAt: later
		});
		expect(await deliver(db(), orderPaid(downgrade), later)).toMatchObject({ outcome: 'ignored' });
		expect(await packagesOf(db(), userId)).toHaveLength(2);

		// The next cycle grants the downgraded plan's credits.
		const cycle = polarOrder({
			userId,
			product: planProduct(monthly),
			billingReason: 'subscription_cycle',
			subscription: { ...subscription, periodStart: periodEnd, periodEnd: new Date('2027-06-01') },
			createdAt: periodEnd
		});
		await deliver(db(), orderPaid(cycle), periodEnd);
		packages = await packagesOf(db(), userId);
		expect(packages.map((p) => p.initialCredits)).toEqual([2000, 533, 2000]);
		await expectNoDrift(db(), userId);
	});

	it('freezes a plan pool when its subscription is revoked and thaws it when active again', async () => {
		const userId = await createUser(db());
		const start = new Date('2027-05-01T00:00:00Z');
		const order = polarOrder({
			userId,
			product: planProduct(monthly),
			billingReason: 'subscription_create',
			subscription: { periodStart: start, periodEnd: new Date('2027-06-01T00:00:00Z') },
			createdAt: start
		});
		const other = await createUser(db());
		const unrelated = polarOrder({ userId: other, createdAt: start });
		await deliver(db(), orderPaid(unrelated), start);
		await deliver(
			db(),
			subscriptionEvent('subscription.created', order, { status: 'active', modifiedAt: start }),
			start
		);
		await deliver(db(), orderPaid(order), start);
		const frozenOf = async () =>
			(await packagesOf(db(), userId)).map((p) => p.frozenAt?.toISOString() ?? null);
		expect(await frozenOf()).toEqual([null]);

		const revokedAt = new Date('2027-05-10T00:00:00Z');
		await deliver(
			db(),
			subscriptionEvent('subscription.revoked', order, {
				status: 'canceled',
				modifiedAt: revokedAt,
				endedAt: revokedAt
			}),
			revokedAt
		);
		expect(await frozenOf()).toEqual([revokedAt.toISOString()]);
		const [row] = await db()
			.select()
			.from(billingSubscription)
			.where(eq(billingSubscription.id, order.subscription!.id));
		expect(row).toMatchObject({
			userId,
			status: 'canceled',
			planKey: 'pro-monthly',
			membership: false,
			endedAt: revokedAt
		});

		// A late copy of an older event changes nothing: the newest event wins.
		await deliver(
			db(),
			subscriptionEvent('subscription.active', order, { status: 'active', modifiedAt: start }),
			revokedAt
		);
		expect(await frozenOf()).toEqual([revokedAt.toISOString()]);

		const back = new Date('2027-05-12T00:00:00Z');
		await deliver(
			db(),
			subscriptionEvent('subscription.active', order, { status: 'active', modifiedAt: back }),
			back
		);
		expect(await frozenOf()).toEqual([null]);
		// Other users' packages were never touched.
		const [theirs] = await packagesOf(db(), other);
		expect(theirs.frozenAt).toBeNull();
	});

	it('stores but does not apply subscription events it cannot trust, with the reason', async () => {
		const start = new Date('2027-05-01T00:00:00Z');
		const stranger = polarOrder({
			userId: null,
			product: planProduct(monthly),
			subscription: { periodStart: start, periodEnd: new Date('2027-06-01T00:00:00Z') }
		});
		const before = await db().select().from(billingSubscription);
		const event = subscriptionEvent('subscription.active', stranger, {
			status: 'active',
			modifiedAt: start
		});
		expect(await deliver(db(), event, start)).toMatchObject({ outcome: 'failed' });
		const broken = { ...event, data: { ...event.data, status: 42 } };
		expect(await deliver(db(), broken, start)).toMatchObject({ outcome: 'failed' });
		expect(await db().select().from(billingSubscription)).toHaveLength(before.length);
	});

	it('records a membership subscription and grants no credits for its orders', async () => {
		const userId = await createUser(db());
		const start = new Date('2027-05-01T00:00:00Z');
		const order = polarOrder({
			userId,
			product: planProduct(planOf('unlimited-monthly')),
			billingReason: 'subscription_create',
			subscription: { periodStart: start, periodEnd: new Date('2027-06-01T00:00:00Z') },
			createdAt: start
		});
		await deliver(
			db(),
			subscriptionEvent('subscription.created', order, { status: 'active', modifiedAt: start }),
			start
		);
		expect(await deliver(db(), orderPaid(order), start)).toMatchObject({ outcome: 'ignored' });
		expect(await packagesOf(db(), userId)).toEqual([]);
		const [row] = await db()
			.select()
			.from(billingSubscription)
			.where(and(eq(billingSubscription.userId, userId), isNull(billingSubscription.endedAt)));
		expect(row).toMatchObject({ membership: true, planKey: 'unlimited-monthly', status: 'active' });
	});
});

describe('monthly allocation job on 4 instances at once (PostgreSQL)', () => {
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

	it('grants each due month once, whichever instance gets there first', async () => {
		const db = database().db;
		const start = new Date('2027-01-15T00:00:00Z');
		const users: string[] = [];
		for (let i = 0; i < 6; i++) {
			const userId = await createUser(db);
			users.push(userId);
			const order = polarOrder({
				userId,
				product: planProduct(yearly),
				billingReason: 'subscription_create',
				subscription: { periodStart: start, periodEnd: new Date('2028-01-15T00:00:00Z') },
				createdAt: start
			});
			await deliver(db, orderPaid(order), start);
		}
		for (const month of [2, 3, 4]) {
			const now = new Date(Date.UTC(2027, month - 1, 15, 1));
			const granted = await Promise.all(
				instances.flatMap((instance) => [
					grantDueAllocations(instance.db, now, { batch: 2 }),
					grantDueAllocations(instance.db, now, { batch: 2 })
				])
			);
			// 6 users, one month each: 6 packages in all, wherever they were granted.
			expect(granted.reduce((a, b) => a + b, 0)).toBe(6);
		}
		for (const userId of users) {
			const packages = await packagesOf(db, userId);
			expect(packages.map((p) => p.allocationMonth)).toEqual([1, 2, 3, 4]);
			await expectNoDrift(db, userId);
		}
	});
});
