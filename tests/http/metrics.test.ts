// GET /metrics on the built app against a real PostgreSQL: off without METRICS_TOKEN, bearer
// only, and the counters move with real traffic (a chat reply, signed Polar webhooks, sweeps).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { sendChat } from '../helpers/chat-client';
import { signUp } from '../helpers/http-client';
import { sample, scrape } from '../helpers/metrics';
import { newWebhookSecret, orderPaid, polarOrder, signDelivery } from '../helpers/polar-events';

const TOKEN = 'metrics-test-token-0123456789abcdef';
const secret = newWebhookSecret();

describe('GET /metrics without METRICS_TOKEN', () => {
	let app: AppServer;
	beforeAll(async () => {
		app = await startAppServer({ SWEEP_INTERVAL_SECONDS: '0' });
	});
	afterAll(async () => {
		await app?.stop();
	});

	it('does not exist (404), whatever the client sends', async () => {
		const attempts: Record<string, string>[] = [
			{},
			{ authorization: 'Bearer anything-at-all-0123456789' }
		];
		for (const headers of attempts) {
			const response = await fetch(`${app.url}/metrics`, { headers });
			expect(response.status).toBe(404);
			expect((await response.json()).error.code).toBe('not_found');
		}
	});
});

describe('GET /metrics with METRICS_TOKEN', () => {
	let app: AppServer;
	beforeAll(async () => {
		app = await startAppServer({
			METRICS_TOKEN: TOKEN,
			POLAR_WEBHOOK_SECRET: secret,
			SWEEP_INTERVAL_SECONDS: '1'
		});
	});
	afterAll(async () => {
		await app?.stop();
	});

	it('refuses a missing or wrong bearer token, and the token in the query string (401 JSON)', async () => {
		for (const [path, headers] of [
			['/metrics', {}],
			['/metrics', { authorization: `Bearer ${TOKEN}x` }],
			['/metrics', { authorization: `Basic ${TOKEN}` }],
			['/metrics', { authorization: TOKEN }],
			[`/metrics?token=${TOKEN}`, {}],
			[`/metrics?access_token=${TOKEN}`, {}]
		] as const) {
			const response = await fetch(`${app.url}${path}`, { headers, redirect: 'manual' });
			expect(response.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
			expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
			expect((await response.json()).error.code).toBe('unauthorized');
		}
	});

	it('answers Prometheus text with the bearer token', async () => {
		const response = await fetch(`${app.url}/metrics`, {
			headers: { authorization: `Bearer ${TOKEN}` }
		});
		expect(response.status).toBe(200);
		expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
		const text = await response.text();
		expect(text).toContain('# TYPE credit_chat_http_requests_total counter');
		expect(text).toContain('# TYPE credit_chat_db_transaction_start_seconds histogram');
		expect(sample(text, 'credit_chat_replies_streaming')).toBe(0);
		expect(sample(text, 'credit_chat_db_pool_connections_max')).toBe(10);
		expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
	});

	it('counts a chat reply under its route and status; holds and transactions are seen', async () => {
		const beforeSignUp = await scrape(app.url, TOKEN);
		const { client } = await signUp(app.url, 'metrics-chat@example.com');
		const before = await scrape(app.url, TOKEN);
		const reply = await sendChat(client, { model: 'demo', text: 'Count me' });
		expect(reply.status).toBe(200);
		const after = await scrape(app.url, TOKEN);
		const chats = (text: string) =>
			sample(text, 'credit_chat_http_requests_total', {
				route: '/api/chat',
				method: 'POST',
				status: '200'
			}) || 0;
		expect(chats(after) - chats(before)).toBe(1);
		expect(
			sample(after, 'credit_chat_http_request_duration_seconds_count', {
				route: '/api/chat',
				method: 'POST'
			})
		).toBeGreaterThanOrEqual(1);
		// Settled before its stream ended: counted once, with its tokens and the credits charged
		// (the demo model at 1 credit per 1,000 tokens: a short reply costs 1).
		const delta = (name: string, labels: Record<string, string>) =>
			(sample(after, name, labels) || 0) - (sample(before, name, labels) || 0);
		expect(delta('credit_chat_replies_settled_total', { model: 'demo' })).toBe(1);
		expect(delta('credit_chat_credits_charged_total', { model: 'demo' })).toBe(1);
		expect(delta('credit_chat_tokens_total', { model: 'demo', kind: 'input' })).toBeGreaterThan(0);
		expect(delta('credit_chat_tokens_total', { model: 'demo', kind: 'output' })).toBeGreaterThan(0);
		// The reply is settled: nothing is held any more. Its writes are single statements (the
		// SQL functions chat_start and credit_settle among them); transactions, such as the
		// sign-up's bonus grant, are timed from asking.
		expect(sample(after, 'credit_chat_holds_pending')).toBe(0);
		expect(sample(after, 'credit_chat_credits_held')).toBe(0);
		const transactions = (text: string) =>
			sample(text, 'credit_chat_db_transaction_start_seconds_count') || 0;
		expect(transactions(before) - transactions(beforeSignUp)).toBeGreaterThanOrEqual(1);
		// A route is labelled by its id, never by the raw path.
		await fetch(`${app.url}/no/such/page-${Date.now()}`);
		const unmatched = await scrape(app.url, TOKEN);
		expect(unmatched).not.toContain('/no/such/page');
		expect(
			sample(unmatched, 'credit_chat_http_requests_total', { route: 'unmatched', status: '404' })
		).toBeGreaterThanOrEqual(1);
	});

	it('counts webhook outcomes: processed, duplicate, invalid signature', async () => {
		const outcome = (text: string, name: string) =>
			sample(text, 'credit_chat_webhook_deliveries_total', { outcome: name }) || 0;
		const { userId } = await signUp(app.url, 'metrics-buyer@example.com');
		const delivery = signDelivery(
			orderPaid(polarOrder({ userId, product: { name: 'Pack', metadata: { credits: '100' } } })),
			{ secret }
		);
		const post = (headers: Record<string, string>) =>
			fetch(`${app.url}/api/webhooks/polar`, { method: 'POST', headers, body: delivery.body });
		const before = await scrape(app.url, TOKEN);
		expect((await post(delivery.headers)).status).toBe(200);
		expect((await post(delivery.headers)).status).toBe(200);
		const forged = { ...delivery.headers, 'webhook-signature': 'v1,AAAA' };
		expect((await post(forged)).status).toBe(403);
		const after = await scrape(app.url, TOKEN);
		expect(outcome(after, 'processed') - outcome(before, 'processed')).toBe(1);
		expect(outcome(after, 'duplicate') - outcome(before, 'duplicate')).toBe(1);
		expect(outcome(after, 'invalid_signature') - outcome(before, 'invalid_signature')).toBe(1);
	});

	it('counts sweep runs by job and outcome', async () => {
		await expect
			.poll(
				async () =>
					sample(await scrape(app.url, TOKEN), 'credit_chat_job_runs_total', {
						job: 'sweep',
						outcome: 'ok'
					}),
				{ timeout: 15_000, interval: 500 }
			)
			.toBeGreaterThanOrEqual(2);
	});
});
