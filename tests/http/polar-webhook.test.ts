import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/lib/server/db/client';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { signUp } from '../helpers/http-client';
import { expectNoDrift } from '../helpers/ledger';
import {
	newWebhookSecret,
	orderPaid,
	orderRefunded,
	polarOrder,
	refunded,
	signDelivery,
	unknownEvent,
	type SignedDelivery
} from '../helpers/polar-events';

const secret = newWebhookSecret();

describe('POST /api/webhooks/polar on the built app', () => {
	let app: AppServer;
	let sql: postgres.Sql;
	let database: Database;

	beforeAll(async () => {
		app = await startAppServer({ POLAR_WEBHOOK_SECRET: secret });
		sql = postgres(app.databaseUrl, { max: 1 });
		database = openDatabase({ url: app.databaseUrl, dataDir: null, maxConnections: 2 });
	});
	afterAll(async () => {
		await database?.close();
		await sql?.end();
		await app?.stop();
	});

	/** Posts a delivery as Polar does: JSON, no cookie, no Origin header. */
	const post = (delivery: Pick<SignedDelivery, 'body' | 'headers'>) =>
		fetch(`${app.url}/api/webhooks/polar`, {
			method: 'POST',
			headers: delivery.headers,
			body: delivery.body
		});

	const counts = async () => {
		const [row] = await sql`select
			(select count(*) from polar_webhook_delivery)::int as deliveries,
			(select count(*) from credit_transaction)::int as ledger,
			(select count(*) from credit_package)::int as packages`;
		return { ...row };
	};

	it('grants the package of a paid order; the buyer sees it in /api/credits', async () => {
		const { client, userId } = await signUp(app.url, 'buyer@example.com');
		const order = polarOrder({
			userId,
			product: { name: '1,000 credits', metadata: { credits: '1000', validity_period: '365' } }
		});
		const started = performance.now();
		const response = await post(signDelivery(orderPaid(order), { secret }));
		const elapsed = performance.now() - started;
		expect(response.status).toBe(200);
		expect(await response.json()).toEqual({
			received: true,
			outcome: 'processed',
			duplicate: false
		});
		expect(elapsed).toBeLessThan(2_000);

		const credits = await (await client.get('/api/credits')).json();
		expect(credits.balance).toBe(1008);
		expect(credits.packages).toContainEqual(
			expect.objectContaining({
				source: 'purchase',
				name: '1,000 credits',
				initialCredits: 1000,
				remainingCredits: 1000,
				status: 'active'
			})
		);
		const [delivery] = await sql`select outcome, order_id from polar_webhook_delivery
			where order_id = ${order.id}`;
		expect(delivery).toEqual({ outcome: 'processed', order_id: order.id });
		await expectNoDrift(database.db, userId);
	});

	it('20 concurrent copies of one delivery: twenty 2xx, one stored delivery, one package', async () => {
		const { userId } = await signUp(app.url, 'concurrent@example.com');
		const signed = signDelivery(orderPaid(polarOrder({ userId })), { secret });
		const responses = await Promise.all(Array.from({ length: 20 }, () => post(signed)));
		expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
		const bodies = await Promise.all(responses.map((r) => r.json()));
		expect(bodies.filter((b) => !b.duplicate)).toEqual([
			{ received: true, outcome: 'processed', duplicate: false }
		]);
		const [{ n }] = await sql`select count(*)::int as n from polar_webhook_delivery
			where webhook_id = ${signed.webhookId}`;
		expect(n).toBe(1);
		const packages = await sql`select id from credit_package
			where user_id = ${userId} and source = 'purchase'`;
		expect(packages).toHaveLength(1);
		await expectNoDrift(database.db, userId);
	});

	it('the same order under a new webhook-id gets no second package', async () => {
		const { userId } = await signUp(app.url, 'twice@example.com');
		const event = orderPaid(polarOrder({ userId }));
		const answers = await Promise.all(
			Array.from({ length: 5 }, async () => (await post(signDelivery(event, { secret }))).json())
		);
		expect(answers.map((a) => a.outcome).sort()).toEqual([
			'ignored',
			'ignored',
			'ignored',
			'ignored',
			'processed'
		]);
		const packages = await sql`select id from credit_package
			where user_id = ${userId} and source = 'purchase'`;
		expect(packages).toHaveLength(1);
		await expectNoDrift(database.db, userId);
	});

	it('refuses forged, stale and unsigned deliveries with 403 and writes nothing', async () => {
		const { userId } = await signUp(app.url, 'forged@example.com');
		const event = orderPaid(polarOrder({ userId }));
		const genuine = signDelivery(event, { secret });
		const unsigned = { ...genuine.headers, 'webhook-signature': '' };
		const forgeries = [
			{ ...genuine, body: genuine.body.replace('"credits":"500"', '"credits":"99999"') },
			signDelivery(event, { secret: newWebhookSecret() }),
			signDelivery(event, { secret, timestamp: new Date(Date.now() - 6 * 60_000) }),
			signDelivery(event, { secret, timestamp: new Date(Date.now() + 6 * 60_000) }),
			{ ...genuine, headers: unsigned },
			{ body: genuine.body, headers: { 'content-type': 'application/json' } }
		];
		const before = await counts();
		for (const forged of forgeries) {
			const response = await post(forged);
			expect(response.status).toBe(403);
			expect((await response.json()).error.code).toBe('invalid_signature');
		}
		expect(await counts()).toEqual(before);
		expect((await post(genuine)).status).toBe(200);
	});

	it('answers a validly signed body that is not JSON with 400 and writes nothing', async () => {
		const before = await counts();
		const response = await post(signDelivery('{"type":"order.paid","data":', { secret }));
		expect(response.status).toBe(400);
		expect((await response.json()).error.code).toBe('invalid_payload');
		expect(await counts()).toEqual(before);
	});

	it('stores unknown event types and failed orders with 200', async () => {
		const unknown = signDelivery(unknownEvent(), { secret });
		const response = await post(unknown);
		expect(response.status).toBe(200);
		expect((await response.json()).outcome).toBe('ignored');

		const stranger = signDelivery(orderPaid(polarOrder({ userId: 'nobody-here' })), { secret });
		const failed = await post(stranger);
		expect(failed.status).toBe(200);
		expect((await failed.json()).outcome).toBe('failed');
		const rows = await sql`select webhook_id, outcome, error from polar_webhook_delivery
			where webhook_id in (${unknown.webhookId}, ${stranger.webhookId}) order by id`;
		expect(rows).toEqual([
			{ webhook_id: unknown.webhookId, outcome: 'ignored', error: expect.any(String) },
			{
				webhook_id: stranger.webhookId,
				outcome: 'failed',
				error: expect.stringContaining('Unknown user "nobody-here"')
			}
		]);
	});

	it('applies a partial then a full refund over HTTP', async () => {
		const { client, userId } = await signUp(app.url, 'refund@example.com');
		const order = polarOrder({
			userId,
			netAmount: 2000,
			taxAmount: 400,
			product: { metadata: { credits: '600' } }
		});
		expect((await post(signDelivery(orderPaid(order), { secret }))).status).toBe(200);
		const partial = refunded(order, { amount: 500, taxAmount: 100 });
		expect((await post(signDelivery(orderRefunded(partial), { secret }))).status).toBe(200);
		expect((await (await client.get('/api/credits')).json()).balance).toBe(8 + 450);
		const full = refunded(order, { amount: 2000, taxAmount: 400 });
		expect((await post(signDelivery(orderRefunded(full), { secret }))).status).toBe(200);
		expect((await (await client.get('/api/credits')).json()).balance).toBe(8);
		const history = await (await client.get('/api/credits/transactions?type=refund')).json();
		expect(history.items.map((i: { amount: number }) => i.amount)).toEqual([-450, -150]);
		await expectNoDrift(database.db, userId);
	});
});
