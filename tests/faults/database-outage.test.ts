import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchApp, type LaunchedApp } from '../helpers/app-server';
import { sendChat } from '../helpers/chat-client';
import type { HttpClient } from '../helpers/http-client';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openai-server';
import {
	newWebhookSecret,
	orderPaid,
	polarOrder,
	signDelivery,
	type SignedDelivery
} from '../helpers/polar-events';
import { createScratchDatabase } from '../helpers/scratch-database';
import { startRestartablePostgres, type RestartablePostgres } from './restartable-postgres';
import { buyer, holds, ledgerDrifts, reservedCredits, upstreamEnv, waitFor } from './support';

const secret = newWebhookSecret();
const STACK_TRACE = /\bat .+\.(js|ts):\d+|node_modules|ECONNREFUSED|postgres:\/\//;

/**
 * PostgreSQL stops under chat and webhook traffic and comes back. Meanwhile the app refuses
 * honestly (503, no model call, no stack trace) and Polar is told to retry; afterwards it
 * recovers without a restart, each retried delivery grants once, and no hold is left pending.
 */
describe('PostgreSQL stopped and started again under traffic', () => {
	let pg: RestartablePostgres;
	let databaseUrl: string;
	let upstream: OpenAIServer;
	let app: LaunchedApp;
	let sql: postgres.Sql;

	beforeAll(async () => {
		pg = await startRestartablePostgres();
		databaseUrl = (await createScratchDatabase(pg.url, 'cc_outage')).url;
		// 100 ms per token: a reply streams for ~5 s, long enough to be cut by the outage.
		upstream = await startOpenAIServer({ delayMs: 100 });
		app = await launchApp({
			DATABASE_URL: databaseUrl,
			...upstreamEnv(upstream),
			SIGNUP_BONUS_CREDITS: '0',
			POLAR_WEBHOOK_SECRET: secret,
			CHAT_HOLD_TTL_SECONDS: '30',
			SWEEP_INTERVAL_SECONDS: '2'
		});
		sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
	});
	afterAll(async () => {
		await sql?.end({ timeout: 0 });
		await app?.stop();
		await upstream?.close();
		await pg?.stop();
	});

	const deliver = (delivery: SignedDelivery) =>
		fetch(`${app.url}/api/webhooks/polar`, {
			method: 'POST',
			headers: delivery.headers,
			body: delivery.body
		});
	const chat = (client: HttpClient, text: string) =>
		sendChat(client, { model: 'big', text }).catch((error: unknown) => error);

	it('answers 503 while it is down, recovers by itself, and loses or doubles nothing', async () => {
		const a = await buyer(app.url, databaseUrl, 5_000);
		const b = await buyer(app.url, databaseUrl, 5_000);
		expect(await chat(b.client, 'Before the outage')).toMatchObject({ status: 200 });

		// Webhook traffic: an order a user pays every 150 ms, each delivered like Polar does;
		// what was not answered 2xx is delivered again later with the same webhook-id.
		const deliveries: SignedDelivery[] = [];
		const answered = new Map<string, number>();
		let sending = true;
		const webhookTraffic = (async () => {
			while (sending) {
				const userId = deliveries.length % 2 ? a.userId : b.userId;
				const order = polarOrder({ userId, product: { metadata: { credits: '100' } } });
				const delivery = signDelivery(orderPaid(order), { secret });
				deliveries.push(delivery);
				const status = await deliver(delivery).then(
					(r) => r.status,
					() => 0
				);
				answered.set(delivery.webhookId, status);
				await new Promise((resolve) => setTimeout(resolve, 150));
			}
		})();

		// A reply streaming when the database goes away.
		const inFlight = chat(a.client, 'A reply cut by the outage');
		await waitFor('the reply to stream', async () => upstream.requests.length === 2, 30_000, 20);
		await new Promise((resolve) => setTimeout(resolve, 1_500));
		await pg.halt();

		const modelCalls = upstream.requests.length;
		for (let i = 0; i < 5; i++) {
			const refused = await chat(b.client, `During the outage ${i}`);
			expect(refused).toMatchObject({
				status: 503,
				error: {
					code: 'database_unavailable',
					message: 'The service is temporarily unavailable. Try again in a moment.'
				}
			});
		}
		expect(upstream.requests.length).toBe(modelCalls);

		const health = await fetch(`${app.url}/api/health`);
		expect(health.status).toBe(503);
		expect(await health.json()).toMatchObject({ status: 'unavailable' });

		const credits = await a.client.get('/api/credits');
		expect(credits.status).toBe(503);
		expect((await credits.json()).error.code).toBe('database_unavailable');

		const page = await a.client.request('/dashboard', { headers: { accept: 'text/html' } });
		expect(page.status).toBe(503);
		const html = await page.text();
		expect(html).not.toMatch(STACK_TRACE);

		const outageDelivery = signDelivery(
			orderPaid(polarOrder({ userId: a.userId, product: { metadata: { credits: '100' } } })),
			{ secret }
		);
		deliveries.push(outageDelivery);
		const refusedDelivery = await deliver(outageDelivery);
		expect(refusedDelivery.status).toBeGreaterThanOrEqual(500);
		expect(await refusedDelivery.text()).not.toMatch(STACK_TRACE);
		answered.set(outageDelivery.webhookId, refusedDelivery.status);
		// Traffic goes on a little while the database is down.
		await new Promise((resolve) => setTimeout(resolve, 1_000));

		await pg.resume();
		const back = Date.now();
		await waitFor(
			'/api/health to answer 200 again',
			async () => (await fetch(`${app.url}/api/health`)).status === 200,
			10_000,
			100
		);
		const recoveredMs = Date.now() - back;
		console.log(`[outage] the app answered healthy ${recoveredMs} ms after PostgreSQL was back`);
		sending = false;
		await webhookTraffic;

		// Every answer during the run was a success or a 5xx Polar retries: never a 4xx.
		const statuses = [...answered.values()];
		expect(statuses.every((s) => s === 200 || s >= 500)).toBe(true);
		expect(statuses.filter((s) => s >= 500).length).toBeGreaterThan(0);
		// Polar retries: every delivery again (the answered ones are duplicates now), twice.
		for (let round = 0; round < 2; round++) {
			for (const delivery of deliveries) {
				const again = await deliver(delivery);
				expect(again.status).toBe(200);
				const body = await again.json();
				const first = answered.get(delivery.webhookId) === 200 || round > 0;
				expect(body).toMatchObject({ received: true, duplicate: first });
				answered.set(delivery.webhookId, 200);
			}
		}
		const packages = await sql`select polar_order_id, count(*)::int as n from credit_package
			where polar_order_id is not null group by 1`;
		expect(packages).toHaveLength(deliveries.length);
		expect(packages.every((p) => p.n === 1)).toBe(true);

		expect(await chat(b.client, 'After the outage')).toMatchObject({ status: 200 });
		await inFlight;
		await waitFor(
			'every hold to be resolved',
			async () => (await holds(sql)).every((h) => h.status !== 'pending'),
			60_000
		);
		expect(await reservedCredits(sql)).toBe(0);
		expect(await ledgerDrifts(databaseUrl)).toEqual([]);
		expect(app.output()).not.toContain('Unhandled');
	});
});
