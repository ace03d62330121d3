import { count, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { listWebhookDeliveries } from '../../src/lib/server/billing/deliveries';
import { grantOrder, refundOrder } from '../../src/lib/server/billing/orders';
import { handlePolarWebhook } from '../../src/lib/server/billing/webhook';
import { adjust, grant } from '../../src/lib/server/credits';
import type { Db } from '../../src/lib/server/db/client';
import {
	creditPackage,
	creditTransaction,
	polarWebhookDelivery
} from '../../src/lib/server/db/schema';
import { databaseKinds, useTestDatabase } from '../helpers/databases';
import { DAY, expectNoDrift, ledgerRows } from '../helpers/ledger';
import {
	newWebhookSecret,
	orderPaid,
	orderRefunded,
	polarOrder,
	refunded,
	signDelivery,
	subscriptionEnded,
	unknownEvent,
	type SignedDelivery,
	type SignOptions
} from '../helpers/polar-events';
import { createUser } from '../helpers/users';

const secret = newWebhookSecret();

/** Signs an event and hands it to the webhook handler as the route does. */
function deliverTo(db: Db, event: unknown, options: Partial<SignOptions> & { now?: Date } = {}) {
	const signed = signDelivery(event, { secret, ...options });
	return handlePolarWebhook(
		db,
		{ body: signed.body, headers: signed.headers },
		secret,
		options.now
	);
}

const ok = (outcome: string, duplicate = false) => ({
	status: 200,
	body: { received: true, outcome, duplicate }
});

async function deliveryOf(db: Db, webhookId: string) {
	const [row] = await db
		.select()
		.from(polarWebhookDelivery)
		.where(eq(polarWebhookDelivery.webhookId, webhookId));
	return row;
}

const packagesOf = (db: Db, userId: string) =>
	db
		.select()
		.from(creditPackage)
		.where(eq(creditPackage.userId, userId))
		.orderBy(creditPackage.createdAt);

async function rowCounts(db: Db) {
	const [deliveries] = await db.select({ n: count() }).from(polarWebhookDelivery);
	const [ledger] = await db.select({ n: count() }).from(creditTransaction);
	const [packages] = await db.select({ n: count() }).from(creditPackage);
	return { deliveries: deliveries.n, ledger: ledger.n, packages: packages.n };
}

describe.each(databaseKinds)('Polar webhooks on %s', (kind) => {
	const database = useTestDatabase(kind);
	const db = () => database().db;
	const deliver = (event: unknown, options: Partial<SignOptions> & { now?: Date } = {}) =>
		deliverTo(db(), event, options);

	it('grants one package for order.paid from the product metadata and stores the delivery', async () => {
		const userId = await createUser(db());
		const now = new Date();
		const order = polarOrder({
			userId,
			product: { name: 'Starter pack', metadata: { credits: '500', validity_period: '30' } }
		});
		const webhookId = 'msg_paid_1';
		const event = orderPaid(order);
		const started = performance.now();
		expect(await deliver(event, { webhookId, now })).toEqual(ok('processed'));
		expect(performance.now() - started).toBeLessThan(2_000);

		const [pkg] = await packagesOf(db(), userId);
		expect(pkg).toMatchObject({
			source: 'purchase',
			name: 'Starter pack',
			initialCredits: 500,
			remainingCredits: 500,
			expiresAt: new Date(now.getTime() + 30 * DAY),
			polarOrderId: order.id,
			polarProductId: order.product!.id,
			polarSubscriptionId: null
		});
		const rows = await ledgerRows(db(), userId);
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({
			type: 'purchase',
			amount: 500,
			balanceAfter: 500,
			packageId: pkg.id,
			metadata: { orderId: order.id, productId: order.product!.id, billingReason: 'purchase' }
		});
		const delivery = await deliveryOf(db(), webhookId);
		expect(delivery).toMatchObject({
			type: 'order.paid',
			outcome: 'processed',
			error: null,
			userId,
			orderId: order.id,
			result: { packageId: pkg.id, credits: 500 },
			receivedAt: now
		});
		expect(delivery.payload).toEqual(JSON.parse(JSON.stringify(event)));
		expect(delivery.processedAt!.getTime()).toBeGreaterThanOrEqual(now.getTime());
		await expectNoDrift(db(), userId);
	});

	it('a product without validity_period gives credits that never expire', async () => {
		const userId = await createUser(db());
		const order = polarOrder({ userId, product: { metadata: { credits: 42 } } });
		expect(await deliver(orderPaid(order))).toEqual(ok('processed'));
		expect(await packagesOf(db(), userId)).toMatchObject([{ initialCredits: 42, expiresAt: null }]);
		await expectNoDrift(db(), userId);
	});

	it('answers a repeated webhook-id with 200 and writes nothing new', async () => {
		const userId = await createUser(db());
		const event = orderPaid(polarOrder({ userId }));
		expect(await deliver(event, { webhookId: 'msg_repeat' })).toEqual(ok('processed'));
		const before = await rowCounts(db());
		for (let i = 0; i < 3; i++) {
			expect(await deliver(event, { webhookId: 'msg_repeat' })).toEqual(ok('processed', true));
		}
		expect(await rowCounts(db())).toEqual(before);
		expect(await packagesOf(db(), userId)).toHaveLength(1);
		await expectNoDrift(db(), userId);
	});

	it('grants an order once, whatever the webhook id (stored as ignored the second time)', async () => {
		const userId = await createUser(db());
		const order = polarOrder({ userId });
		expect(await deliver(orderPaid(order), { webhookId: 'msg_order_a' })).toEqual(ok('processed'));
		expect(await deliver(orderPaid(order), { webhookId: 'msg_order_b' })).toEqual(ok('ignored'));
		expect(await packagesOf(db(), userId)).toHaveLength(1);
		expect(await ledgerRows(db(), userId)).toHaveLength(1);
		const [pkg] = await packagesOf(db(), userId);
		expect(await deliveryOf(db(), 'msg_order_b')).toMatchObject({
			outcome: 'ignored',
			error: 'This order already has its credit package.',
			result: { packageId: pkg.id }
		});
		await expectNoDrift(db(), userId);
	});

	type Forge = (genuine: SignedDelivery) => Pick<SignedDelivery, 'body' | 'headers'>;
	const withHeaders =
		(change: (headers: Record<string, string>) => Record<string, string>): Forge =>
		(s) => ({ body: s.body, headers: change(s.headers) });
	const resigned =
		(options: Partial<SignOptions>): Forge =>
		(s) =>
			signDelivery(s.body, { secret, ...options });
	const forgeries: [string, Forge][] = [
		[
			'a tampered body',
			(s) => ({ ...s, body: s.body.replace('"credits":"500"', '"credits":"50000"') })
		],
		['a signature made with another secret', resigned({ secret: newWebhookSecret() })],
		['a timestamp 6 minutes old', resigned({ timestamp: new Date(Date.now() - 6 * 60_000) })],
		['a timestamp 6 minutes ahead', resigned({ timestamp: new Date(Date.now() + 6 * 60_000) })],
		[
			'the signature of another webhook id',
			withHeaders((h) => ({ ...h, 'webhook-id': 'msg_other' }))
		],
		...['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((name): [string, Forge] => [
			`no ${name} header`,
			withHeaders((h) => Object.fromEntries(Object.entries(h).filter(([k]) => k !== name)))
		]),
		['an empty signature', withHeaders((h) => ({ ...h, 'webhook-signature': 'v1,' }))],
		[
			'a signature of another scheme',
			withHeaders((h) => ({ ...h, 'webhook-signature': 'v1a,abc' }))
		]
	];
	it.each(forgeries)('refuses %s with 403 and writes nothing', async (_, forge) => {
		const userId = await createUser(db());
		const genuine = signDelivery(
			orderPaid(polarOrder({ userId, product: { metadata: { credits: '500' } } })),
			{ secret }
		);
		const forged = forge(genuine);
		const before = await rowCounts(db());
		const answer = await handlePolarWebhook(
			db(),
			{ body: forged.body, headers: forged.headers },
			secret
		);
		expect(answer).toEqual({
			status: 403,
			body: { error: { code: 'invalid_signature', message: expect.any(String) } }
		});
		expect(await rowCounts(db())).toEqual(before);
		// The genuine delivery still works: the refusal was about the forgery, not the event.
		expect(await handlePolarWebhook(db(), genuine, secret)).toEqual(ok('processed'));
	});

	it('accepts timestamps up to 5 minutes off (clock skew, a slow retry)', async () => {
		for (const offset of [-4.5, 4.5]) {
			const userId = await createUser(db());
			const timestamp = new Date(Date.now() + offset * 60_000);
			expect(await deliver(orderPaid(polarOrder({ userId })), { timestamp })).toEqual(
				ok('processed')
			);
		}
	});

	it('accepts deliveries signed with the UTF-8 bytes of a Polar-style secret', async () => {
		const polarSecret = 'polar_whs_3kLr9WmWq8vG0yQ2nR5tX7zB1cD4eF6h';
		const userId = await createUser(db());
		const signed = signDelivery(orderPaid(polarOrder({ userId })), {
			secret: polarSecret,
			keyFormat: 'raw'
		});
		expect(await handlePolarWebhook(db(), signed, polarSecret)).toEqual(ok('processed'));
		expect(await packagesOf(db(), userId)).toHaveLength(1);
		// The same delivery is refused under another secret.
		expect((await handlePolarWebhook(db(), signed, secret)).status).toBe(403);
	});

	it.each([
		['not JSON', '{"type": "order.paid", "data": '],
		['JSON without a type', '{"data": {}}'],
		['a JSON array', '[1, 2, 3]']
	])('answers a validly signed body that is %s with 400 and writes nothing', async (_, body) => {
		const before = await rowCounts(db());
		const answer = await deliver(body);
		expect(answer).toEqual({
			status: 400,
			body: { error: { code: 'invalid_payload', message: expect.any(String) } }
		});
		expect(await rowCounts(db())).toEqual(before);
	});

	it('stores unknown and unhandled event types as ignored, 200', async () => {
		const before = await rowCounts(db());
		expect(await deliver(unknownEvent(), { webhookId: 'msg_unknown' })).toEqual(ok('ignored'));
		const checkout = {
			type: 'checkout.created',
			timestamp: new Date().toISOString(),
			api_version: '2026-10',
			data: { id: 'chk_1', status: 'open' }
		};
		expect(await deliver(checkout, { webhookId: 'msg_checkout' })).toEqual(ok('ignored'));
		expect(await deliveryOf(db(), 'msg_unknown')).toMatchObject({
			type: 'customer.teleported',
			outcome: 'ignored',
			error: 'Event type customer.teleported is not handled.',
			payload: { type: 'customer.teleported', data: { destination: 'Mars' } }
		});
		expect(await deliveryOf(db(), 'msg_checkout')).toMatchObject({
			type: 'checkout.created',
			outcome: 'ignored'
		});
		const after = await rowCounts(db());
		expect(after).toEqual({ ...before, deliveries: before.deliveries + 2 });
	});

	it.each([
		['an unknown user', { userId: 'no-such-user' }, 'Unknown user "no-such-user"'],
		['a customer without external_id', { userId: null }, 'has no external_id'],
		['a product without credits', { product: { metadata: { tier: 'gold' } } }, '"credits"'],
		['a product with 0 credits', { product: { metadata: { credits: '0' } } }, '"credits"'],
		['a product with credits "lots"', { product: { metadata: { credits: 'lots' } } }, '"credits"'],
		[
			'a bad validity_period',
			{ product: { metadata: { credits: '5', validity_period: '1 month' } } },
			'validity_period'
		]
	])('stores order.paid for %s as failed with the reason, 200', async (_, change, reason) => {
		const userId = await createUser(db());
		const order = polarOrder({ userId, ...change });
		const before = await rowCounts(db());
		const signed = signDelivery(orderPaid(order), { secret });
		expect(await handlePolarWebhook(db(), signed, secret)).toEqual(ok('failed'));
		const delivery = await deliveryOf(db(), signed.webhookId);
		expect(delivery.outcome).toBe('failed');
		expect(delivery.error).toContain(reason);
		expect(await rowCounts(db())).toEqual({ ...before, deliveries: before.deliveries + 1 });
		// A retry of the same delivery stays a 200 without a second attempt.
		expect(await handlePolarWebhook(db(), signed, secret)).toEqual(ok('failed', true));
	});

	it('stores an order.paid whose data is malformed as failed, naming the field', async () => {
		const userId = await createUser(db());
		const event = orderPaid(polarOrder({ userId }));
		const broken = { ...event, data: { ...event.data, total_amount: 'ten dollars' } };
		const signed = signDelivery(broken, { secret });
		expect(await handlePolarWebhook(db(), signed, secret)).toEqual(ok('failed'));
		expect((await deliveryOf(db(), signed.webhookId)).error).toContain('total_amount');
		expect(await packagesOf(db(), userId)).toHaveLength(0);
	});

	it('takes back partial and full refunds cumulatively, exact to the credit', async () => {
		const userId = await createUser(db());
		// $10.00 + $2.00 tax for 1000 credits; Polar reports refunds without and with tax apart.
		const order = polarOrder({
			userId,
			netAmount: 1000,
			taxAmount: 200,
			product: { metadata: { credits: '1000' } }
		});
		expect(await deliver(orderPaid(order))).toEqual(ok('processed'));
		const [pkg] = await packagesOf(db(), userId);

		const steps = [
			{ amount: 300, taxAmount: 60, total: 300, remaining: 700 },
			{ amount: 333, taxAmount: 67, total: 333, remaining: 667 },
			{ amount: 1000, taxAmount: 200, total: 1000, remaining: 0 }
		];
		for (const step of steps) {
			const event = orderRefunded(refunded(order, step));
			expect(await deliver(event, { webhookId: `msg_refund_${step.amount}` })).toEqual(
				ok('processed')
			);
			const [now] = await packagesOf(db(), userId);
			expect(now).toMatchObject({ remainingCredits: step.remaining, revokedCredits: step.total });
			// The same refund state again, under another webhook id: nothing more is taken.
			expect(await deliver(event)).toEqual(ok('processed'));
			expect((await packagesOf(db(), userId))[0].remainingCredits).toBe(step.remaining);
			await expectNoDrift(db(), userId);
		}
		const rows = await ledgerRows(db(), userId);
		expect(rows.map((r) => [r.type, r.amount, r.balanceAfter])).toEqual([
			['purchase', 1000, 1000],
			['refund', -300, 700],
			['refund', -33, 667],
			['refund', -667, 0]
		]);
		expect(rows.slice(1).every((r) => r.packageId === pkg.id)).toBe(true);
		expect(rows[3].metadata).toMatchObject({ orderId: order.id, totalRevoked: 1000 });
	});

	it('rounds a partial refund down, in the user’s favour', async () => {
		const userId = await createUser(db());
		const order = polarOrder({ userId, netAmount: 999, product: { metadata: { credits: '10' } } });
		await deliver(orderPaid(order));
		// 500 of 999 cents is 5.005 credits: 5 are taken back.
		await deliver(orderRefunded(refunded(order, { amount: 500 })));
		expect((await packagesOf(db(), userId))[0]).toMatchObject({
			remainingCredits: 5,
			revokedCredits: 5
		});
		await expectNoDrift(db(), userId);
	});

	it('a refund after part of the package was spent takes only what remains of that package', async () => {
		const userId = await createUser(db());
		const now = new Date();
		// Another package that must not be touched: it never expires, so spending takes the
		// order's package (30 days) first.
		const other = await grant(db(), {
			userId,
			source: 'admin_grant',
			name: 'Gift',
			credits: 50,
			expiresAt: null,
			key: `gift:${userId}`,
			now
		});
		const order = polarOrder({
			userId,
			product: { metadata: { credits: '100', validity_period: '30' } }
		});
		await deliver(orderPaid(order), { now });
		await adjust(db(), {
			userId,
			mode: 'subtract',
			credits: 70,
			reason: 'spent',
			actor: 'test',
			key: `spend:${userId}`,
			now
		});
		const spent = (await packagesOf(db(), userId)).find((p) => p.polarOrderId === order.id)!;
		expect(spent.remainingCredits).toBe(30);

		// 50 % refunded: 50 credits are owed back but only 30 are left in that package.
		await deliver(orderRefunded(refunded(order, { amount: 500 })), { now });
		const packages = await packagesOf(db(), userId);
		expect(packages.find((p) => p.id === spent.id)).toMatchObject({
			remainingCredits: 0,
			revokedCredits: 30
		});
		expect(packages.find((p) => p.id === other.packageId)).toMatchObject({ remainingCredits: 50 });
		// The full refund finds nothing left; no other package pays for it.
		const full = signDelivery(orderRefunded(refunded(order, { amount: 1000 })), { secret });
		expect(await handlePolarWebhook(db(), full, secret, now)).toEqual(ok('processed'));
		expect((await deliveryOf(db(), full.webhookId)).result).toMatchObject({
			revoked: 0,
			totalRevoked: 100,
			shortfall: 70
		});
		expect(
			(await packagesOf(db(), userId)).find((p) => p.id === other.packageId)?.remainingCredits
		).toBe(50);
		const refunds = (await ledgerRows(db(), userId)).filter((r) => r.type === 'refund');
		expect(refunds.map((r) => [r.amount, r.packageId])).toEqual([[-30, spent.id]]);
		await expectNoDrift(db(), userId);
	});

	it('grants every paid subscription cycle its own package, until the period end + 7 days', async () => {
		const userId = await createUser(db());
		const subscriptionId = 'sub_three_cycles';
		const start = new Date();
		const product = { id: 'prod_monthly', name: 'Monthly', metadata: { credits: '300' } };
		const orders = [0, 1, 2].map((cycle) => {
			const periodStart = new Date(start.getTime() + cycle * 30 * DAY);
			return polarOrder({
				userId,
				product: { ...product, recurringInterval: 'month' },
				billingReason: cycle === 0 ? 'subscription_create' : 'subscription_cycle',
				subscription: {
					id: subscriptionId,
					periodStart,
					periodEnd: new Date(periodStart.getTime() + 30 * DAY)
				},
				createdAt: periodStart
			});
		});
		for (const [cycle, order] of orders.entries()) {
			// Each cycle's order.paid arrives at the start of its period.
			const now = new Date(start.getTime() + cycle * 30 * DAY);
			expect(await deliver(orderPaid(order), { now })).toEqual(ok('processed'));
		}
		const packages = await packagesOf(db(), userId);
		expect(packages).toHaveLength(3);
		for (const [cycle, pkg] of packages.entries()) {
			expect(pkg).toMatchObject({
				source: 'subscription',
				name: 'Monthly',
				initialCredits: 300,
				polarOrderId: orders[cycle].id,
				polarSubscriptionId: subscriptionId,
				expiresAt: new Date(start.getTime() + (cycle + 1) * 30 * DAY + 7 * DAY)
			});
		}
		const rows = await ledgerRows(db(), userId);
		expect(rows.map((r) => [r.type, r.amount])).toEqual([
			['subscription', 300],
			['subscription', 300],
			['subscription', 300]
		]);

		// Cancelling or revoking the subscription grants nothing and takes nothing; a revoked
		// subscription's packages are frozen (not spendable) until it is active again.
		const before = await rowCounts(db());
		for (const type of ['subscription.canceled', 'subscription.revoked'] as const) {
			const signed = signDelivery(subscriptionEnded(type, orders[2]), { secret });
			expect(await handlePolarWebhook(db(), signed, secret)).toEqual(ok('processed'));
			expect(await deliveryOf(db(), signed.webhookId)).toMatchObject({ type, userId });
			const frozen = (await packagesOf(db(), userId)).filter((p) => p.frozenAt !== null);
			// Cancelled at the period end: still active. Revoked: ended now.
			expect(frozen).toHaveLength(type === 'subscription.revoked' ? 3 : 0);
		}
		expect(await rowCounts(db())).toEqual({ ...before, deliveries: before.deliveries + 2 });
		await expectNoDrift(db(), userId);
	});

	it('a subscription product with validity_period uses it for every cycle', async () => {
		const userId = await createUser(db());
		const now = new Date();
		const order = polarOrder({
			userId,
			product: { metadata: { credits: '10', validity_period: '90' }, recurringInterval: 'month' },
			subscription: { periodStart: now, periodEnd: new Date(now.getTime() + 30 * DAY) }
		});
		await deliver(orderPaid(order), { now });
		expect(await packagesOf(db(), userId)).toMatchObject([
			{ source: 'subscription', expiresAt: new Date(now.getTime() + 90 * DAY) }
		]);
	});

	it('ignores metered-usage orders: they grant no credits', async () => {
		const userId = await createUser(db());
		const order = polarOrder({
			userId,
			billingReason: 'subscription_meter_cycle',
			subscription: { periodStart: new Date(), periodEnd: new Date(Date.now() + 30 * DAY) }
		});
		expect(await deliver(orderPaid(order))).toEqual(ok('ignored'));
		expect(await packagesOf(db(), userId)).toHaveLength(0);
	});

	it('a refund that arrives before its order.paid grants then revokes; the late order.paid adds nothing', async () => {
		const userId = await createUser(db());
		const order = polarOrder({ userId, product: { metadata: { credits: '200' } } });
		expect(await deliver(orderRefunded(refunded(order, { amount: 1000 })))).toEqual(
			ok('processed')
		);
		expect(await deliver(orderPaid(order))).toEqual(ok('ignored'));
		expect(await packagesOf(db(), userId)).toMatchObject([
			{ initialCredits: 200, remainingCredits: 0, revokedCredits: 200 }
		]);
		const rows = await ledgerRows(db(), userId);
		expect(rows.map((r) => [r.type, r.amount])).toEqual([
			['purchase', 200],
			['refund', -200]
		]);
		await expectNoDrift(db(), userId);
	});

	it('a refund for an order that cannot be granted is stored as failed', async () => {
		const order = polarOrder({ userId: 'ghost-user' });
		const signed = signDelivery(orderRefunded(refunded(order, { amount: 1000 })), { secret });
		expect(await handlePolarWebhook(db(), signed, secret)).toEqual(ok('failed'));
		expect((await deliveryOf(db(), signed.webhookId)).error).toContain('no credit package');
	});

	it('grantOrder (the reconciliation job) and the webhook share the one-package-per-order rule', async () => {
		const userId = await createUser(db());
		const order = polarOrder({ userId, product: { metadata: { credits: '77' } } });
		const first = await grantOrder(db(), order);
		expect(first).toMatchObject({ outcome: 'granted', credits: 77, expiresAt: null });
		const packageId = first.outcome === 'granted' ? first.packageId : '';
		expect(await grantOrder(db(), order)).toEqual({ outcome: 'duplicate', packageId });
		expect(await deliver(orderPaid(order))).toEqual(ok('ignored'));
		expect(await grantOrder(db(), { ...order, paid: false, status: 'pending' })).toMatchObject({
			outcome: 'failed'
		});
		const refund = await refundOrder(db(), refunded(order, { amount: 500 }));
		expect(refund).toEqual({
			outcome: 'revoked',
			packageId,
			revoked: 38,
			totalRevoked: 38,
			shortfall: 0
		});
		expect(await refundOrder(db(), refunded(order, { amount: 500 }))).toMatchObject({
			revoked: 0,
			totalRevoked: 38
		});
		expect(await packagesOf(db(), userId)).toHaveLength(1);
		await expectNoDrift(db(), userId);
	});

	it('lists deliveries newest first, page by page, optionally one outcome only', async () => {
		const all = [];
		for (let cursor: number | null = null; ;) {
			const page = await listWebhookDeliveries(db(), { limit: 7, cursor });
			all.push(...page.items);
			if (!page.nextCursor) break;
			cursor = Number(page.nextCursor);
		}
		const stored = await db().select({ n: count() }).from(polarWebhookDelivery);
		expect(all.length).toBe(stored[0].n);
		expect(all.length).toBeGreaterThan(14);
		const ids = all.map((d) => Number(d.id));
		expect(ids).toEqual([...ids].sort((a, b) => b - a));
		expect(new Set(ids).size).toBe(ids.length);
		expect(all[0]).toMatchObject({
			webhookId: expect.any(String),
			type: expect.any(String),
			receivedAt: expect.any(String),
			payload: expect.objectContaining({ type: all[0].type })
		});

		const failed = await listWebhookDeliveries(db(), { limit: 100, outcome: 'failed' });
		expect(failed.items.length).toBeGreaterThan(0);
		expect(failed.items.every((d) => d.outcome === 'failed' && d.error)).toBe(true);
		expect(failed.items.length).toBe(all.filter((d) => d.outcome === 'failed').length);
	});
});

// PGlite runs one transaction at a time and can never show a race: these run on real PostgreSQL,
// with a pool wide enough that the deliveries really overlap in the server.
describe('Polar webhooks under concurrency on postgres', () => {
	const database = useTestDatabase('postgres', { maxConnections: 25 });
	const db = () => database().db;

	it('20 concurrent copies of one webhook-id: twenty 200s, one delivery, one package', async () => {
		const userId = await createUser(db());
		const signed = signDelivery(orderPaid(polarOrder({ userId })), { secret });
		const answers = await Promise.all(
			Array.from({ length: 20 }, () => handlePolarWebhook(db(), signed, secret))
		);
		expect(answers.every((a) => a.status === 200)).toBe(true);
		const fresh = answers.filter((a) => 'received' in a.body && !a.body.duplicate);
		expect(fresh).toEqual([ok('processed')]);
		expect(answers.filter((a) => 'received' in a.body && a.body.duplicate)).toHaveLength(19);
		const deliveries = await db()
			.select()
			.from(polarWebhookDelivery)
			.where(eq(polarWebhookDelivery.webhookId, signed.webhookId));
		expect(deliveries).toHaveLength(1);
		expect(await packagesOf(db(), userId)).toHaveLength(1);
		expect(await ledgerRows(db(), userId)).toHaveLength(1);
		await expectNoDrift(db(), userId);
	});

	it('one order under 10 webhook ids at once: one package, the others ignored', async () => {
		const userId = await createUser(db());
		const event = orderPaid(polarOrder({ userId }));
		const answers = await Promise.all(Array.from({ length: 10 }, () => deliverTo(db(), event)));
		expect(answers.filter((a) => a.status === 200)).toHaveLength(10);
		expect(answers.map((a) => ('received' in a.body ? a.body.outcome : 'error')).sort()).toEqual([
			...Array(9).fill('ignored'),
			'processed'
		]);
		expect(await packagesOf(db(), userId)).toHaveLength(1);
		expect(await ledgerRows(db(), userId)).toHaveLength(1);
		await expectNoDrift(db(), userId);
	});

	it('concurrent refund events of one order never take more than the largest refund', async () => {
		const userId = await createUser(db());
		const order = polarOrder({ userId, product: { metadata: { credits: '1000' } } });
		await deliverTo(db(), orderPaid(order));
		// 30 % and 60 % (cumulative) arrive together, each twice under different ids.
		const events = [300, 600, 300, 600].map((amount) => orderRefunded(refunded(order, { amount })));
		const answers = await Promise.all(events.map((event) => deliverTo(db(), event)));
		expect(answers.every((a) => a.status === 200)).toBe(true);
		expect(await packagesOf(db(), userId)).toMatchObject([
			{ remainingCredits: 400, revokedCredits: 600 }
		]);
		const refunds = (await ledgerRows(db(), userId)).filter((r) => r.type === 'refund');
		expect(refunds.reduce((sum, r) => sum + r.amount, 0)).toBe(-600);
		await expectNoDrift(db(), userId);
	});
});
