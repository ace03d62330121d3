import type { models } from '@polar-sh/sdk/2026-10';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creditPacks } from '../../config/credit-packs';
import { plans } from '../../config/plans';
import { metadataOf, planMetadataOf } from '../../src/lib/server/billing/seed-products';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { HttpClient, signUp } from '../helpers/http-client';
import { newWebhookSecret, orderPaid, polarOrder, signDelivery } from '../helpers/polar-events';
import { startPolarApiServer, type PolarApiServer } from '../helpers/polar-api-server';

const secret = newWebhookSecret();

/** A `subscription.created` delivery for `userId` on `product`, as Polar sends it. */
function subscriptionCreated(userId: string, product: models.Product) {
	const start = new Date();
	const order = polarOrder({
		userId,
		product: {
			id: product.id,
			name: product.name,
			metadata: product.metadata,
			recurringInterval: 'month'
		},
		subscription: { periodStart: start, periodEnd: new Date(start.getTime() + 30 * 86_400_000) }
	});
	return subscriptionEvent('subscription.created', order);
}

/** A `subscription.*` event of the subscription behind `order`. */
function subscriptionEvent(
	type: string,
	order: models.Order,
	state: { status?: string; endedAt?: Date } = {}
) {
	const s = order.subscription!;
	const now = new Date();
	return {
		type,
		timestamp: now.toISOString(),
		api_version: '2026-10',
		data: {
			...s,
			status: state.status ?? s.status,
			ended_at: state.endedAt?.toISOString() ?? null,
			modified_at: now.toISOString(),
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

describe('the public catalog API and plan changes (Polar mode, real SDK against a local Polar)', () => {
	let polar: PolarApiServer;
	let app: AppServer;
	let sql: postgres.Sql;
	const products = new Map<string, models.Product>();

	beforeAll(async () => {
		polar = await startPolarApiServer();
		for (const pack of creditPacks) {
			products.set(
				pack.key,
				polar.addProduct({
					name: pack.name,
					priceAmount: pack.priceAmount,
					metadata: metadataOf(pack)
				})
			);
		}
		for (const plan of plans) {
			products.set(
				plan.key,
				polar.addProduct({
					name: plan.name,
					priceAmount: plan.priceAmount,
					metadata: planMetadataOf(plan),
					recurringInterval: plan.interval === 'once' ? undefined : plan.interval
				})
			);
		}
		app = await startAppServer({
			POLAR_ACCESS_TOKEN: polar.token,
			POLAR_API_URL: polar.url,
			POLAR_WEBHOOK_SECRET: secret,
			POLAR_RECONCILE_INTERVAL_SECONDS: '0'
		});
		sql = postgres(app.databaseUrl, { max: 1 });
	});
	afterAll(async () => {
		await sql?.end();
		await app?.stop();
		await polar?.close();
	});

	it('serves packs and plans to anyone, with prices, credits, bonus, interval and limits', async () => {
		const response = await fetch(`${app.url}/api/credits/catalog`);
		expect(response.status).toBe(200);
		expect(response.headers.get('content-type')).toContain('application/json');
		const body = await response.json();
		expect(body.staleSince).toBeNull();
		expect(body.packs).toHaveLength(creditPacks.length);
		expect(body.plans.map((p: { planKey: string }) => p.planKey)).toEqual(
			[...plans].sort((a, b) => a.rank - b.rank).map((p) => p.key)
		);
		expect(body.packs.find((p: { credits: number }) => p.credits === 5000)).toEqual({
			productId: products.get('pack-5000')!.id,
			name: '5,000 credits',
			// The local Polar keeps no descriptions.
			description: null,
			price: { amount: 2500, currency: 'usd' },
			interval: 'once',
			credits: 5000,
			bonusCredits: 750,
			validityDays: null,
			dailyLimit: null,
			membership: false,
			allocationMonths: 1,
			planKey: null,
			planRank: null
		});
		expect(body.plans.find((p: { planKey: string }) => p.planKey === 'pro-yearly')).toMatchObject({
			price: { amount: 9000, currency: 'usd' },
			interval: 'year',
			credits: 3000,
			dailyLimit: 600,
			allocationMonths: 12,
			membership: false,
			planRank: 2
		});
		expect(body.plans.find((p: { planKey: string }) => p.planKey === 'lifetime')).toMatchObject({
			interval: 'once',
			allocationMonths: 1200
		});

		const onlyPlans = await (await fetch(`${app.url}/api/credits/catalog?kind=plan`)).json();
		expect(onlyPlans.packs).toEqual([]);
		expect(onlyPlans.plans).toHaveLength(plans.length);
	});

	it('answers bad queries with a 400 JSON error', async () => {
		for (const query of ['?kind=tshirt', '?sort=price', '?kind=plan&kind=pack&x=1']) {
			const response = await fetch(`${app.url}/api/credits/catalog${query}`);
			expect(response.status).toBe(400);
			const body = await response.json();
			expect(body.error).toMatchObject({ code: 'invalid_request', message: expect.any(String) });
		}
	});

	it('limits each client address to 60 requests a minute, without affecting others', async () => {
		const flooder = new HttpClient(app.url, { localAddress: '127.0.0.9' });
		const statuses: number[] = [];
		for (let i = 0; i < 61; i++) statuses.push((await flooder.get('/api/credits/catalog')).status);
		expect(statuses.slice(0, 60).every((status) => status === 200)).toBe(true);
		const refused = await flooder.get('/api/credits/catalog');
		expect(refused.status).toBe(429);
		expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
		expect((await refused.json()).error.code).toBe('rate_limited');
		const other = new HttpClient(app.url, { localAddress: '127.0.0.10' });
		expect((await other.get('/api/credits/catalog')).status).toBe(200);
	});

	it('shows the current plan on the buy page and refuses bad plan changes inline', async () => {
		const { client, userId } = await signUp(app.url, 'planner@example.com');
		const change = (productId: string) =>
			client.postForm('/dashboard/buy?/changePlan', { productId });

		// No subscription yet.
		const none = await change(products.get('pro-yearly')!.id);
		expect(none.status).toBe(409);
		expect(await none.text()).toContain('no active plan');

		const monthly = products.get('pro-monthly')!;
		const delivery = signDelivery(subscriptionCreated(userId, monthly), { secret });
		const answer = await fetch(`${app.url}/api/webhooks/polar`, {
			method: 'POST',
			headers: delivery.headers,
			body: delivery.body
		});
		expect(await answer.json()).toMatchObject({ outcome: 'processed' });

		const data = await (await client.get('/dashboard/buy/__data.json')).text();
		expect(data).toContain('currentPlans');
		expect(data).toContain('pro-monthly');
		expect(data).toContain(monthly.id);

		const same = await change(monthly.id);
		expect(same.status).toBe(409);
		expect(await same.text()).toContain('on this plan already');
		const pack = await change(products.get('pack-1000')!.id);
		expect(pack.status).toBe(400);
		expect(await pack.text()).toContain('Only a monthly or yearly plan');
		const unknown = await change('prod_nope');
		expect(unknown.status).toBe(400);
		expect(await unknown.text()).toContain('not on offer');
		const empty = await client.postForm('/dashboard/buy?/changePlan', {});
		expect(empty.status).toBe(400);
		expect(await empty.text()).toContain('Pick a plan');

		// A real change goes to Polar, which bills the prorated difference; credits come later with
		// its order.paid, never with the click.
		const [subscription] = await sql`select id from billing_subscription where user_id = ${userId}`;
		const packagesBefore = await sql`select id from credit_package where user_id = ${userId}`;
		const patches = () =>
			polar.requests.filter((r) => r.method === 'PATCH' && r.path.startsWith('/v1/subscriptions/'));
		const yearly = products.get('pro-yearly')!;
		polar.failWith = 500;
		const down = await change(yearly.id);
		polar.failWith = null;
		expect(down.status).toBe(502);
		expect(await down.text()).toContain('Polar could not change your plan');
		const changed = await change(yearly.id);
		expect(changed.status).toBe(200);
		expect(patches().at(-1)).toMatchObject({
			path: `/v1/subscriptions/${subscription.id}`,
			body: { product_id: yearly.id, proration_behavior: 'invoice' }
		});
		expect(await sql`select id from credit_package where user_id = ${userId}`).toHaveLength(
			packagesBefore.length
		);

		// A stranger's data request shows no plans.
		const stranger = await fetch(`${app.url}/dashboard/buy/__data.json`, { redirect: 'manual' });
		expect(await stranger.text()).not.toContain(monthly.id);
	});
});

describe('plans over HTTP: signed webhooks and the free allowance (FREE_MONTHLY_CREDITS=25)', () => {
	let app: AppServer;
	let sql: postgres.Sql;

	beforeAll(async () => {
		app = await startAppServer({ POLAR_WEBHOOK_SECRET: secret, FREE_MONTHLY_CREDITS: '25' });
		sql = postgres(app.databaseUrl, { max: 1 });
	});
	afterAll(async () => {
		await sql?.end();
		await app?.stop();
	});

	const post = (event: unknown) => {
		const delivery = signDelivery(event, { secret });
		return fetch(`${app.url}/api/webhooks/polar`, {
			method: 'POST',
			headers: delivery.headers,
			body: delivery.body
		}).then((response) => response.json());
	};

	it('gives a new account the signup bonus and this month’s free credits at once', async () => {
		const { client, userId } = await signUp(app.url, 'free@example.com');
		expect((await (await client.get('/api/credits')).json()).balance).toBe(8 + 25);
		const [free] = await sql`select initial_credits, free_month, expires_at
			from credit_package where user_id = ${userId} and source = 'free_monthly'`;
		const now = new Date();
		expect(free).toEqual({
			initial_credits: 25,
			free_month: now.toISOString().slice(0, 7),
			expires_at: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1))
		});
	});

	it('grants month 1 of a yearly plan and freezes the pool when the subscription is revoked', async () => {
		const { client, userId } = await signUp(app.url, 'yearly@example.com');
		const yearly = plans.find((p) => p.key === 'pro-yearly')!;
		const start = new Date();
		const order = polarOrder({
			userId,
			product: { name: yearly.name, metadata: planMetadataOf(yearly), recurringInterval: 'year' },
			billingReason: 'subscription_create',
			netAmount: yearly.priceAmount,
			subscription: {
				periodStart: start,
				periodEnd: new Date(start.getTime() + 365 * 86_400_000)
			}
		});
		expect(await post(subscriptionEvent('subscription.created', order))).toMatchObject({
			outcome: 'processed'
		});
		expect(await post(orderPaid(order))).toMatchObject({ outcome: 'processed' });
		const [allocation] = await sql`select months, months_granted, next_at
			from credit_allocation where user_id = ${userId}`;
		expect(allocation).toMatchObject({ months: 12, months_granted: 1 });
		expect(allocation.next_at.getTime()).toBeGreaterThan(start.getTime() + 27 * 86_400_000);
		expect((await (await client.get('/api/credits')).json()).balance).toBe(8 + 25 + 3000);

		const revoked = await post(
			subscriptionEvent('subscription.revoked', order, { status: 'canceled', endedAt: new Date() })
		);
		expect(revoked).toMatchObject({ outcome: 'processed' });
		const [pkg] = await sql`select daily_limit, frozen_at from credit_package
			where user_id = ${userId} and allocation_month = 1`;
		expect(pkg.daily_limit).toBe(600);
		expect(pkg.frozen_at).toBeInstanceOf(Date);
	});
});
