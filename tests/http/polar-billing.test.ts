import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { models } from '@polar-sh/sdk/2026-10';
import { creditPacks } from '../../config/credit-packs';
import { plans } from '../../config/plans';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { signUp, signUpAdmin } from '../helpers/http-client';
import { polarOrder, refunded } from '../helpers/polar-events';
import { startPolarApiServer, type PolarApiServer } from '../helpers/polar-api-server';

const run = promisify(execFile);
const WEBHOOK_SECRET = 'whsec_dGVzdC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5';

/** The app's view of the Polar stand-in's requests to one endpoint. */
const requestsTo = (polar: PolarApiServer, method: string, path: string) =>
	polar.requests.filter((r) => r.method === method && r.path === path);

describe('buying through Polar (the real SDK against a local Polar API)', () => {
	let polar: PolarApiServer;
	let app: AppServer;
	let sql: postgres.Sql;
	let small: models.Product;
	let monthly: models.Product;

	beforeAll(async () => {
		polar = await startPolarApiServer();
		small = polar.addProduct({
			name: '1,000 credits',
			priceAmount: 500,
			metadata: { credits: 1000 }
		});
		monthly = polar.addProduct({
			name: 'Monthly 2,000',
			priceAmount: 1000,
			metadata: { credits: '2000' },
			recurringInterval: 'month'
		});
		polar.addProduct({ name: 'T-shirt', priceAmount: 2000, metadata: {} });
		polar.addProduct({
			name: 'Old pack',
			priceAmount: 100,
			metadata: { credits: 10 },
			isArchived: true
		});
		polar.addProduct({
			name: 'Staff pack',
			priceAmount: 100,
			metadata: { credits: 10 },
			visibility: 'private'
		});
		app = await startAppServer({
			POLAR_ACCESS_TOKEN: polar.token,
			POLAR_API_URL: polar.url,
			POLAR_WEBHOOK_SECRET: WEBHOOK_SECRET,
			// These tests reconcile on purpose; the scheduled job must not do it for them.
			POLAR_RECONCILE_INTERVAL_SECONDS: '0'
		});
		sql = postgres(app.databaseUrl, { max: 1 });
	});
	afterAll(async () => {
		await sql?.end();
		await app?.stop();
		await polar?.close();
	});
	beforeEach(() => {
		polar.failWith = null;
	});

	it('lists the public products that grant credits, with price per 1,000 and the interval, cached', async () => {
		const client = (await signUp(app.url, 'catalog@example.com')).client;
		const page = await (await client.get('/dashboard/buy')).text();
		const again = await client.get('/dashboard/buy');
		expect(again.status).toBe(200);

		expect(page).toContain('1,000 credits');
		expect(page).toContain('$5.00');
		expect(page).toContain('Monthly 2,000');
		expect(page).toContain('$10.00');
		expect(page).toContain('every month');
		for (const hidden of ['T-shirt', 'Old pack', 'Staff pack']) expect(page).not.toContain(hidden);
		expect(page).not.toContain('Test mode');

		const listed = requestsTo(polar, 'GET', '/v1/products/');
		expect(listed).toHaveLength(1);
		expect(listed[0].headers['polar-version']).toBe('2026-10');
		expect(listed[0].headers.authorization).toBe(`Bearer ${polar.token}`);
	});

	it('sends Buy to a Polar checkout for our user id, coming back to the credits page', async () => {
		const { client, userId } = await signUp(app.url, 'buyer@example.com', 'Buyer');
		const before = requestsTo(polar, 'POST', '/v1/checkouts/').length;

		const response = await client.postForm('/dashboard/buy?/buy', { productId: monthly.id });
		expect(response.status).toBe(303);
		expect(response.headers.get('location')).toMatch(
			/^https:\/\/sandbox\.polar\.sh\/checkout\/chk_/
		);

		const checkouts = requestsTo(polar, 'POST', '/v1/checkouts/');
		expect(checkouts).toHaveLength(before + 1);
		expect(checkouts.at(-1)?.body).toMatchObject({
			products: [monthly.id],
			external_customer_id: userId,
			customer_email: 'buyer@example.com',
			success_url: `${app.url}/dashboard/credits?checkout=success`,
			return_url: `${app.url}/dashboard/buy`
		});
	});

	it('makes one checkout of 30 parallel Buy clicks, and sends every click to it', async () => {
		const { client } = await signUp(app.url, 'impatient@example.com');
		const before = requestsTo(polar, 'POST', '/v1/checkouts/').length;
		const responses = await Promise.all(
			Array.from({ length: 30 }, () =>
				client.postForm('/dashboard/buy?/buy', { productId: small.id })
			)
		);
		expect(responses.map((r) => r.status)).toEqual(Array(30).fill(303));
		const targets = new Set(responses.map((r) => r.headers.get('location')));
		expect(targets.size).toBe(1);
		expect(requestsTo(polar, 'POST', '/v1/checkouts/')).toHaveLength(before + 1);
		// Another pack is another checkout.
		const other = await client.postForm('/dashboard/buy?/buy', { productId: monthly.id });
		expect(other.headers.get('location')).not.toBe([...targets][0]);
		expect(requestsTo(polar, 'POST', '/v1/checkouts/')).toHaveLength(before + 2);
	});

	it('refuses a product that is not on offer, inline, without calling Polar', async () => {
		const client = (await signUp(app.url, 'tamper@example.com')).client;
		const before = requestsTo(polar, 'POST', '/v1/checkouts/').length;
		for (const productId of ['prod_does_not_exist', '']) {
			const response = await client.postForm('/dashboard/buy?/buy', { productId });
			expect(response.status).toBe(400);
			expect(await response.text()).toMatch(/not on offer any more|Pick a pack to buy/);
		}
		expect(requestsTo(polar, 'POST', '/v1/checkouts/')).toHaveLength(before);
	});

	it('explains a Polar outage at checkout instead of failing with a 500', async () => {
		const client = (await signUp(app.url, 'outage@example.com')).client;
		await client.get('/dashboard/buy'); // the catalog is cached from here on
		polar.failWith = 500;
		const page = await client.get('/dashboard/buy');
		expect(page.status).toBe(200);
		expect(await page.text()).toContain('1,000 credits');

		const response = await client.postForm('/dashboard/buy?/buy', { productId: small.id });
		expect(response.status).toBe(502);
		expect(await response.text()).toContain('could not start the checkout');
	});

	it('opens the customer portal for buyers and explains it to everyone else', async () => {
		const { client, userId } = await signUp(app.url, 'portal@example.com');

		const none = await client.get('/dashboard/billing/portal');
		expect(none.status).toBe(200);
		expect(await none.text()).toContain('not bought anything yet');

		polar.customers.add(userId);
		const portal = await client.get('/dashboard/billing/portal');
		expect(portal.status).toBe(303);
		expect(portal.headers.get('location')).toMatch(/customer_session_token=polar_cst_/);
		expect(requestsTo(polar, 'POST', '/v1/customer-sessions/').at(-1)?.body).toEqual({
			external_customer_id: userId,
			return_url: `${app.url}/dashboard/credits`
		});

		polar.failWith = 500;
		const down = await client.get('/dashboard/billing/portal');
		expect(down.status).toBe(502);
		expect(await down.text()).toContain('could not open the billing portal');
	});

	const packagesOf = (orderId: string) =>
		sql`select source, initial_credits, remaining_credits, revoked_credits
			from credit_package where polar_order_id = ${orderId}`;

	/** `npm run polar:reconcile -- …` against the app's database and the Polar stand-in. */
	const reconcileCli = (...args: string[]) =>
		run(process.execPath, ['--import', 'tsx', 'src/cli/polar-reconcile.ts', ...args], {
			env: {
				...process.env,
				DATABASE_URL: app.databaseUrl,
				POLAR_ACCESS_TOKEN: polar.token,
				POLAR_API_URL: polar.url
			}
		}).then(
			(ok) => ({ code: 0, ...ok }),
			(error) => error as { code: number; stdout: string; stderr: string }
		);

	it('npm run polar:reconcile grants missed orders once, applies missed refunds, reports failures', async () => {
		const { userId } = await signUp(app.url, 'missed@example.com');
		const missed = polarOrder({ userId, product: { metadata: { credits: 300 } } });
		const refundedLater = refunded(
			polarOrder({ userId, product: { metadata: { credits: 1000 } }, netAmount: 1000 }),
			{ amount: 250 }
		);
		const stranger = polarOrder({ userId: 'no-such-user', product: { metadata: { credits: 50 } } });
		const old = polarOrder({
			userId,
			product: { metadata: { credits: 70 } },
			createdAt: new Date(Date.now() - 30 * 86_400_000)
		});
		polar.orders.push(missed, refundedLater, stranger, old);

		const first = await reconcileCli('--days', '7');
		expect(first.code).toBe(1); // a failed order needs a human
		expect(first.stdout).toContain('granted  ' + missed.id);
		expect(first.stdout).toContain('refunded ' + refundedLater.id);
		expect(first.stdout).toContain('failed   ' + stranger.id);
		expect(first.stdout).not.toContain(old.id);
		expect(await packagesOf(missed.id)).toEqual([
			{ source: 'purchase', initial_credits: 300, remaining_credits: 300, revoked_credits: 0 }
		]);
		expect(await packagesOf(refundedLater.id)).toEqual([
			{ source: 'purchase', initial_credits: 1000, remaining_credits: 750, revoked_credits: 250 }
		]);
		expect(await packagesOf(old.id)).toEqual([]);

		const rows = Number((await sql`select count(*) from credit_transaction`)[0].count);
		const second = await reconcileCli('--days', '7');
		expect(second.stdout).toMatch(/0 granted now, 0 refunds applied, 1 failed/);
		expect(Number((await sql`select count(*) from credit_transaction`)[0].count)).toBe(rows);

		const wider = await reconcileCli('--days', '31');
		expect(wider.stdout).toContain('granted  ' + old.id);
		expect(await packagesOf(old.id)).toHaveLength(1);

		const bad = await reconcileCli('--days', 'soon');
		// A usage mistake exits 2, like the other CLIs.
		expect(bad.code).toBe(2);
		expect(bad.stderr).toContain('--days must be a whole number');
	});

	it('gives admins a reconcile button, and nobody else', async () => {
		const admin = (await signUpAdmin(app, 'admin@example.com')).client;
		const { client: user, userId } = await signUp(app.url, 'nosy@example.com');
		const order = polarOrder({
			userId,
			product: { metadata: { credits: 40 } }
		});
		polar.orders.push(order);

		expect((await user.postForm('/admin/webhooks?/reconcile', { days: '7' })).status).toBe(403);
		expect(await packagesOf(order.id)).toEqual([]);

		const invalid = await admin.postForm('/admin/webhooks?/reconcile', { days: '0' });
		expect(invalid.status).toBe(400);
		expect(await invalid.text()).toContain('At least 1 day.');

		const response = await admin.postForm('/admin/webhooks?/reconcile', { days: '7' });
		expect(response.status).toBe(200);
		expect(await response.text()).toMatch(/1 granted now/);
		expect(await packagesOf(order.id)).toHaveLength(1);

		polar.failWith = 500;
		const down = await admin.postForm('/admin/webhooks?/reconcile', { days: '7' });
		expect(down.status).toBe(502);
		expect(await down.text()).toContain('Polar did not answer; nothing was changed.');
	});
});

describe('the scheduled reconciliation inside the server', () => {
	it('grants a paid order whose webhook never came, without anyone asking', async () => {
		const polar = await startPolarApiServer();
		const app = await startAppServer({
			POLAR_ACCESS_TOKEN: polar.token,
			POLAR_API_URL: polar.url,
			POLAR_WEBHOOK_SECRET: WEBHOOK_SECRET,
			POLAR_RECONCILE_INTERVAL_SECONDS: '1'
		});
		const sql = postgres(app.databaseUrl, { max: 1 });
		try {
			const { userId } = await signUp(app.url, 'patient@example.com');
			const order = polarOrder({ userId, product: { metadata: { credits: 120 } } });
			polar.orders.push(order);
			await expect
				.poll(
					async () =>
						(
							await sql`select initial_credits from credit_package where polar_order_id = ${order.id}`
						).length,
					{ timeout: 20_000, interval: 250 }
				)
				.toBe(1);
			expect(app.output()).toContain('[polar-reconcile]');
			// Later runs find it granted and change nothing.
			const listed = polar.requests.filter((r) => r.path === '/v1/orders/').length;
			await expect
				.poll(() => polar.requests.filter((r) => r.path === '/v1/orders/').length, {
					timeout: 10_000
				})
				.toBeGreaterThan(listed);
			expect(
				await sql`select count(*)::int as n from credit_package where polar_order_id = ${order.id}`
			).toEqual([{ n: 1 }]);
		} finally {
			await sql.end();
			await app.stop();
			await polar.close();
		}
	});
});

describe('a Polar outage before the catalog was ever loaded', () => {
	it('shows a friendly message, never a 500', async () => {
		const polar = await startPolarApiServer();
		polar.failWith = 500;
		const app = await startAppServer({
			POLAR_ACCESS_TOKEN: polar.token,
			POLAR_API_URL: polar.url,
			POLAR_WEBHOOK_SECRET: WEBHOOK_SECRET
		});
		try {
			const client = (await signUp(app.url, 'early@example.com')).client;
			const page = await client.get('/dashboard/buy');
			expect(page.status).toBe(200);
			expect(await page.text()).toContain('The shop is unavailable right now');
		} finally {
			await app.stop();
			await polar.close();
		}
	});
});

describe('npm run polar:seed-products', () => {
	const seed = (polar: PolarApiServer) =>
		run(process.execPath, ['--import', 'tsx', 'src/cli/polar-seed-products.ts'], {
			env: { ...process.env, POLAR_ACCESS_TOKEN: polar.token, POLAR_API_URL: polar.url }
		}).then(
			(ok) => ({ code: 0, ...ok }),
			(error) => error as { code: number; stdout: string; stderr: string }
		);

	it('creates the packs and plans of config/ once, then updates only what changed', async () => {
		const polar = await startPolarApiServer();
		const offers = creditPacks.length + plans.length;
		try {
			const first = await seed(polar);
			expect(first.code).toBe(0);
			expect(first.stdout.match(/ created /g)).toHaveLength(offers);
			expect(polar.products).toHaveLength(offers);
			const bonusPack = creditPacks.find((p) => p.bonusCredits > 0)!;
			expect(polar.products.find((p) => p.metadata.pack_key === bonusPack.key)).toMatchObject({
				recurring_interval: null,
				metadata: {
					pack_key: bonusPack.key,
					credits: bonusPack.credits,
					bonus_credits: bonusPack.bonusCredits
				}
			});
			// Monthly and yearly plans are subscriptions; the lifetime plan is one payment.
			const byPlan = (key: string) => polar.products.find((p) => p.metadata.plan_key === key)!;
			expect(byPlan('pro-yearly')).toMatchObject({
				recurring_interval: 'year',
				metadata: {
					plan_key: 'pro-yearly',
					plan_rank: 2,
					credits: 3000,
					daily_limit: 600,
					allocation_months: 12
				}
			});
			expect(byPlan('unlimited-monthly')).toMatchObject({
				recurring_interval: 'month',
				metadata: { credits: 0, membership: true }
			});
			expect(byPlan('lifetime')).toMatchObject({
				recurring_interval: null,
				metadata: { allocation_months: 1200 }
			});
			const product = byPlan('pro-monthly');
			expect(product).toMatchObject({ name: 'Pro Monthly', recurring_interval: 'month' });

			const second = await seed(polar);
			expect(second.stdout.match(/ unchanged /g)).toHaveLength(offers);
			expect(polar.products).toHaveLength(offers);

			product.name = 'Renamed in the dashboard';
			const third = await seed(polar);
			expect(third.stdout).toContain('updated    pro-monthly');
			expect(product.name).toBe('Pro Monthly');
			expect(polar.products).toHaveLength(offers);
		} finally {
			await polar.close();
		}
	});

	it('fails in one line without a token or when Polar is down', async () => {
		const polar = await startPolarApiServer();
		try {
			const noToken = await run(
				process.execPath,
				['--import', 'tsx', 'src/cli/polar-seed-products.ts'],
				{
					env: { ...process.env, POLAR_ACCESS_TOKEN: '' }
				}
			).catch((error) => error);
			expect(noToken.code).toBe(1);
			expect(noToken.stderr).toContain('POLAR_ACCESS_TOKEN is not set');

			polar.failWith = 500;
			const down = await seed(polar);
			expect(down.code).toBe(1);
			expect(down.stderr).toMatch(/^Seeding stopped: Polar API returned a server error: 500/);
		} finally {
			await polar.close();
		}
	});
});

describe('test mode: no Polar, purchases signed locally and run through the webhook handler', () => {
	let app: AppServer;
	let off: AppServer;
	let sql: postgres.Sql;

	beforeAll(async () => {
		// The built app runs as production, where test mode must be asked for explicitly.
		[app, off] = await Promise.all([startAppServer({ POLAR_TEST_MODE: 'true' }), startAppServer()]);
		sql = postgres(app.databaseUrl, { max: 1 });
	});
	afterAll(async () => {
		await sql?.end();
		await Promise.all([app?.stop(), off?.stop()]);
	});

	it('offers the packs of config/credit-packs.ts and grants one through a stored, signed delivery', async () => {
		const client = (await signUp(app.url, 'tester@example.com')).client;
		const page = await (await client.get('/dashboard/buy')).text();
		expect(page).toContain('Test mode — no payment.');
		for (const pack of creditPacks) expect(page).toContain(pack.name);

		const response = await client.postForm('/dashboard/buy?/buy', { productId: 'test_pack-1000' });
		expect(response.status).toBe(303);
		expect(response.headers.get('location')).toBe('/dashboard/credits?checkout=success');

		const packages = await sql`select source, name, initial_credits, expires_at, polar_order_id
			from credit_package where source = 'purchase'`;
		expect(packages).toEqual([
			{
				source: 'purchase',
				name: '1,000 credits',
				initial_credits: 1000,
				expires_at: null,
				polar_order_id: expect.stringMatching(/^order_test_/)
			}
		]);
		const deliveries = await sql`select type, outcome, order_id from polar_webhook_delivery`;
		expect(deliveries).toEqual([
			{ type: 'order.paid', outcome: 'processed', order_id: packages[0].polar_order_id }
		]);
		const credits = await (await client.get('/api/credits')).json();
		expect(credits.balance).toBe(1008);
	});

	it('grants a bigger pack with its bonus package, same expiry', async () => {
		const client = (await signUp(app.url, 'bonus@example.com')).client;
		const response = await client.postForm('/dashboard/buy?/buy', {
			productId: 'test_pack-2000'
		});
		expect(response.status).toBe(303);
		const packages = await sql`select p.source, p.initial_credits, p.expires_at,
				p.parent_package_id = parent.id as linked
			from credit_package p join "user" u on u.id = p.user_id
			left join credit_package parent on parent.id = p.parent_package_id
			where u.email = 'bonus@example.com' and p.source <> 'signup_bonus'
			order by p.source desc`;
		expect(packages).toEqual([
			{ source: 'purchase', initial_credits: 2000, expires_at: null, linked: null },
			{ source: 'bonus', initial_credits: 200, expires_at: null, linked: true }
		]);
		const credits = await (await client.get('/api/credits')).json();
		expect(credits.balance).toBe(8 + 2000 + 200);
	});

	it('refuses an unknown pack inline and grants nothing', async () => {
		const client = (await signUp(app.url, 'forger@example.com')).client;
		const response = await client.postForm('/dashboard/buy?/buy', {
			productId: 'test_pack-999999'
		});
		expect(response.status).toBe(400);
		expect(await response.text()).toContain('not on offer any more');
		expect((await (await client.get('/api/credits')).json()).balance).toBe(8);
	});

	it('shows admins every webhook delivery, filtered by outcome', async () => {
		const buyer = (await signUp(app.url, 'watched@example.com')).client;
		await buyer.postForm('/dashboard/buy?/buy', { productId: 'test_pack-200' });
		const admin = (await signUpAdmin(app, 'root@example.com')).client;

		const all = await admin.get('/admin/webhooks');
		expect(all.status).toBe(200);
		const html = await all.text();
		expect(html).toContain('order.paid');
		expect(html).toContain('processed');
		const [{ order_id: orderId }] = await sql`select order_id from polar_webhook_delivery
			where payload->'data'->'customer'->>'email' = 'watched@example.com'`;
		expect(html).toContain(orderId);

		expect(await (await admin.get('/admin/webhooks?outcome=failed')).text()).toContain(
			'No failed deliveries yet.'
		);
		expect((await admin.get('/admin/webhooks?outcome=lost')).status).toBe(400);
		expect((await buyer.get('/admin/webhooks')).status).toBe(403);
	});

	it('turns purchases off in production without a token or POLAR_TEST_MODE', async () => {
		const client = (await signUp(off.url, 'nobuy@example.com')).client;
		const page = await client.get('/dashboard/buy');
		expect(page.status).toBe(200);
		const html = await page.text();
		expect(html).toContain('Purchases are not available');
		expect(html).not.toContain('Test mode');
		const response = await client.postForm('/dashboard/buy?/buy', { productId: 'test_pack-1000' });
		expect(response.status).toBe(409);
		expect((await (await client.get('/api/credits')).json()).balance).toBe(8);

		const portal = await client.get('/dashboard/billing/portal');
		expect(portal.status).toBe(200);
		expect(await portal.text()).toContain('does not sell credits');
	});
});
