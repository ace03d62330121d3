import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tokensIn } from '../../src/lib/server/chat/tokens';
import { grant } from '../../src/lib/server/credits';
import { openDatabase, type Database } from '../../src/lib/server/db/client';
import { launchApp, startAppServer, type AppServer, type LaunchedApp } from '../helpers/app-server';
import { resumeChat, sendChat, stopChat } from '../helpers/chat-client';
import { HttpClient } from '../helpers/http-client';
import { DEFAULT_REPLY, startOpenAIServer, type OpenAIServer } from '../helpers/openai-server';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A reply belongs to the server: it outlives the request that started it, only Stop stops it
 * (from any session or instance), and GET /api/chat/{id}/stream replays and follows it. Two app
 * instances share one PostgreSQL, so the cross-instance paths (stop flag, stored progress) run
 * for real.
 */
describe('replies that outlive the tab', () => {
	let upstream: OpenAIServer;
	let app: AppServer;
	/** A second instance of the app on the same database. */
	let other: LaunchedApp;
	let database: Database;
	let sql: postgres.Sql;
	let users = 0;
	const env = (upstreamUrl: string) => ({
		OPENAI_BASE_URL: upstreamUrl,
		OPENAI_API_KEY: 'test-key',
		OPENAI_API_STYLE: 'chat',
		CHAT_MODELS: 'small:1',
		SIGNUP_BONUS_CREDITS: '0',
		CHAT_MAX_CONCURRENT: '20',
		SWEEP_INTERVAL_SECONDS: '0'
	});

	beforeAll(async () => {
		upstream = await startOpenAIServer();
		app = await startAppServer(env(upstream.url));
		other = await launchApp({ DATABASE_URL: app.databaseUrl, ...env(upstream.url) });
		database = openDatabase({ url: app.databaseUrl, dataDir: null, maxConnections: 4 });
		sql = postgres(app.databaseUrl, { max: 2 });
	});
	afterAll(async () => {
		await sql?.end();
		await database?.close();
		await other?.stop();
		await app?.stop();
		await upstream?.close();
	});
	beforeEach(() => {
		upstream.reset();
		// 55 tokens at 40 ms: a reply takes about 2.2 s.
		upstream.behavior.delayMs = 40;
	});

	/** A signed-in user with 100 credits, and a second session of the same user on `other`. */
	async function user() {
		const client = new HttpClient(app.url);
		const email = `resume-${users++}@example.com`;
		await client.postForm('/signup', { name: 'R', email, password: 'correct horse' });
		const [row] = await sql`select id from "user" where email = ${email}`;
		const userId = row.id as string;
		await grant(database.db, {
			userId,
			source: 'purchase',
			name: 'Pack',
			credits: 100,
			expiresAt: null,
			key: `${userId}:pack`
		});
		const elsewhere = new HttpClient(other.url);
		const login = await elsewhere.postForm('/login', { email, password: 'correct horse' });
		expect(login.status).toBe(303);
		return { client, elsewhere, userId };
	}

	async function settledHolds(userId: string) {
		for (let i = 0; i < 200; i++) {
			const holds = await sql`select status from credit_hold where user_id = ${userId}`;
			if (holds.length > 0 && holds.every((h) => h.status !== 'pending')) return holds;
			await sleep(50);
		}
		throw new Error('holds were not resolved in time');
	}

	async function runStatus(chatId: string) {
		for (let i = 0; i < 200; i++) {
			const [run] = await sql`select status, partial from chat_run where chat_id = ${chatId}`;
			if (run?.status === 'done') return run;
			await sleep(50);
		}
		throw new Error('the run did not end in time');
	}

	const usageRows = (userId: string) =>
		sql`select amount, metadata from credit_transaction
			where user_id = ${userId} and type = 'usage' order by id`;
	const replyOf = async (chatId: string) =>
		(
			await sql`select parts, metadata from chat_message
				where chat_id = ${chatId} and role = 'assistant'`
		)[0];

	/** Waits until the upstream has streamed at least this many tokens of the running reply. */
	async function partialOf(chatId: string, minChars: number) {
		for (let i = 0; i < 200; i++) {
			const [run] = await sql`select partial from chat_run where chat_id = ${chatId}`;
			if (run && run.partial.length >= minChars) return run.partial as string;
			await sleep(25);
		}
		throw new Error('no progress was stored');
	}

	it('a client that disconnects mid-reply does not stop it: stored in full, billed once, not aborted', async () => {
		const { client, userId } = await user();
		const reply = await sendChat(client, { model: 'small', stopAfterDeltas: 3 });
		expect(reply.status).toBe(200);
		expect(reply.text.length).toBeLessThan(DEFAULT_REPLY.length);
		const holds = await settledHolds(userId);
		expect(holds.map((h) => h.status)).toEqual(['settled']);
		await upstream.idle();
		expect(upstream.requests).toHaveLength(1);
		expect(upstream.requests[0].aborted).toBe(false);
		const rows = await usageRows(userId);
		expect(rows).toHaveLength(1);
		expect(rows[0].metadata).toMatchObject({
			aborted: false,
			outputTokens: tokensIn(DEFAULT_REPLY)
		});
		await runStatus(reply.chatId);
		const stored = await replyOf(reply.chatId);
		expect(stored.parts).toEqual([{ type: 'text', text: DEFAULT_REPLY }]);
		expect(stored.metadata.receipt.aborted).toBe(false);
		// Nothing more is charged later.
		await sleep(300);
		expect(await usageRows(userId)).toHaveLength(1);
	});

	it('a finished reply is replayed from storage only when asked for by its question (?after=)', async () => {
		const { client, userId } = await user();
		const chatId = `after-${Date.now()}`;
		const reply = await sendChat(client, { model: 'small', chatId });
		await settledHolds(userId);
		await runStatus(chatId);
		const [question] = await sql`select id from chat_message
			where chat_id = ${chatId} and role = 'user'`;
		const [stored] = await sql`select id from chat_message
			where chat_id = ${chatId} and role = 'assistant'`;

		expect((await resumeChat(client, chatId)).status).toBe(204);
		const replay = await resumeChat(client, chatId, { after: question.id });
		expect(replay.status).toBe(200);
		expect(replay.text).toBe(reply.text);
		expect(replay.chunks[0]).toEqual({ type: 'start', messageId: stored.id });
		// Not a question of this chat, or the reply's own id: nothing to replay.
		expect((await resumeChat(client, chatId, { after: stored.id })).status).toBe(204);
		expect((await resumeChat(client, chatId, { after: 'no-such-question' })).status).toBe(204);
		expect((await resumeChat(client, chatId, { after: 'x'.repeat(500) })).status).toBe(204);
		// Another user asking by the same question id: the chat is not theirs.
		const intruder = await user();
		expect((await resumeChat(intruder.client, chatId, { after: question.id })).status).toBe(404);
		// Replaying bills nothing and starts nothing.
		expect(await usageRows(userId)).toHaveLength(1);
		expect(upstream.requests).toHaveLength(1);
	});

	it('Stop mid-reply ends it within a second, bills what was produced and marks it stopped', async () => {
		const { client, userId } = await user();
		const chatId = `stop-${Date.now()}`;
		const reading = sendChat(client, { model: 'small', chatId });
		await partialOf(chatId, 20);
		const pressed = Date.now();
		const stop = await stopChat(client, chatId);
		expect(stop).toEqual({ status: 200, body: { stopping: true } });
		const reply = await reading;
		expect(Date.now() - pressed).toBeLessThan(1000);
		expect(reply.chunks.some((c) => c.type === 'abort')).toBe(true);
		await settledHolds(userId);
		await upstream.idle();
		expect(upstream.requests[0].aborted).toBe(true);
		const [row] = await usageRows(userId);
		expect(row.metadata.aborted).toBe(true);
		expect(row.metadata.outputTokens).toBeGreaterThanOrEqual(tokensIn(reply.text));
		expect(row.metadata.outputTokens).toBeLessThan(tokensIn(DEFAULT_REPLY));
		expect(-row.amount).toBeGreaterThanOrEqual(1);
		await runStatus(chatId);
		const stored = await replyOf(chatId);
		expect(stored.metadata.receipt.aborted).toBe(true);
		expect(stored.parts[0].text).toBe(reply.text);
		// Nothing runs any more: Stop again says so.
		expect((await stopChat(client, chatId)).body).toEqual({ stopping: false });
	});

	it('Stop from another session on another instance reaches the running reply within ~1 s', async () => {
		const { client, elsewhere, userId } = await user();
		const chatId = `stop-elsewhere-${Date.now()}`;
		const reading = sendChat(client, { model: 'small', chatId });
		await partialOf(chatId, 20);
		const pressed = Date.now();
		expect((await stopChat(elsewhere, chatId)).body).toEqual({ stopping: true });
		const reply = await reading;
		const took = Date.now() - pressed;
		console.info(`Stop through another instance: the reply ended ${took} ms after the press`);
		expect(took).toBeLessThan(1500);
		expect(reply.text.length).toBeLessThan(DEFAULT_REPLY.length);
		await settledHolds(userId);
		const rows = await usageRows(userId);
		expect(rows).toHaveLength(1);
		expect(rows[0].metadata.aborted).toBe(true);
		expect(rows[0].metadata.outputTokens).toBeLessThan(tokensIn(DEFAULT_REPLY));
	});

	it('GET /stream replays the partial reply at once, then follows it live to the end', async () => {
		const { client, userId } = await user();
		const chatId = `resume-${Date.now()}`;
		const reading = sendChat(client, { model: 'small', chatId, stopAfterDeltas: 2 });
		await partialOf(chatId, 40);
		const resumed = await resumeChat(client, chatId);
		expect(resumed.status).toBe(200);
		expect(resumed.headers.get('content-type')).toContain('text/event-stream');
		expect(resumed.firstDeltaAt).toBeLessThan(1000);
		expect(resumed.text).toBe(DEFAULT_REPLY);
		// The replay comes first and whole: one delta holding everything written before.
		const deltas = resumed.chunks.filter((c) => c.type === 'text-delta');
		expect((deltas[0].delta as string).length).toBeGreaterThanOrEqual(40);
		expect(deltas.length).toBeGreaterThan(3);
		expect(resumed.chunks[0]).toMatchObject({ type: 'start', messageId: expect.any(String) });
		await reading;
		await settledHolds(userId);
		expect(await usageRows(userId)).toHaveLength(1);
		const stored = await replyOf(chatId);
		expect(resumed.chunks[0].messageId).toBe(
			(await sql`select id from chat_message where chat_id = ${chatId} and role = 'assistant'`)[0]
				.id
		);
		expect(stored.parts[0].text).toBe(DEFAULT_REPLY);
	});

	it('GET /stream on an instance not running the reply follows its stored progress to the end', async () => {
		const { client, elsewhere, userId } = await user();
		const chatId = `follow-${Date.now()}`;
		const reading = sendChat(client, { model: 'small', chatId, stopAfterDeltas: 1 });
		await partialOf(chatId, 30);
		const resumed = await resumeChat(elsewhere, chatId);
		expect(resumed.status).toBe(200);
		expect(resumed.firstDeltaAt).toBeLessThan(1000);
		expect(resumed.text).toBe(DEFAULT_REPLY);
		// The stored partial first, then what the other instance adds.
		const first = resumed.chunks.find((c) => c.type === 'text-delta')!;
		expect((first.delta as string).length).toBeGreaterThanOrEqual(30);
		expect(resumed.chunks.filter((c) => c.type === 'text-delta').length).toBeGreaterThan(1);
		await reading;
		await settledHolds(userId);
		expect(await usageRows(userId)).toHaveLength(1);
	});

	it('GET /stream answers 204 when no reply is running', async () => {
		const { client, elsewhere } = await user();
		const done = await sendChat(client, { model: 'small' });
		await runStatus(done.chatId);
		expect((await resumeChat(client, done.chatId)).status).toBe(204);
		expect((await resumeChat(elsewhere, done.chatId)).status).toBe(204);
	});

	it("another user's chat is a 404 on /stream and /stop, and a stranger gets 401", async () => {
		const owner = await user();
		const intruder = await user();
		const chatId = `private-${Date.now()}`;
		const reading = sendChat(owner.client, { model: 'small', chatId });
		await partialOf(chatId, 10);
		for (const client of [intruder.client, intruder.elsewhere]) {
			const stream = await resumeChat(client, chatId);
			expect(stream.status).toBe(404);
			expect(stream.error?.code).toBe('chat_not_found');
			const stop = await stopChat(client, chatId);
			expect(stop.status).toBe(404);
		}
		expect((await resumeChat(intruder.client, 'no-such-chat')).status).toBe(404);
		const stranger = new HttpClient(app.url);
		expect((await resumeChat(stranger, chatId)).status).toBe(401);
		expect((await stopChat(stranger, chatId)).status).toBe(401);
		// The owner's own cookies on a request another site started (a hidden form or fetch on
		// an attacker's page): refused before anything runs.
		const forged = await owner.client.request(`/api/chat/${encodeURIComponent(chatId)}/stop`, {
			method: 'POST',
			headers: { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }
		});
		expect(forged.status).toBe(403);
		expect((await forged.json()).error.code).toBe('cross_site');
		// The owner's reply was not disturbed.
		const reply = await reading;
		expect(reply.text).toBe(DEFAULT_REPLY);
	});

	it('a second message while a reply runs in the chat is refused with 409, on any instance', async () => {
		const { client, elsewhere, userId } = await user();
		const chatId = `busy-${Date.now()}`;
		const reading = sendChat(client, { model: 'small', chatId });
		await partialOf(chatId, 10);
		for (const c of [client, elsewhere]) {
			const second = await sendChat(c, { model: 'small', chatId, text: 'And another thing' });
			expect(second.status).toBe(409);
			expect(second.error?.code).toBe('reply_in_progress');
			expect(second.error?.message).toMatch(/still being written/);
		}
		await reading;
		await settledHolds(userId);
		expect(upstream.requests).toHaveLength(1);
		const holds = await sql`select status from credit_hold where user_id = ${userId}`;
		expect(holds).toHaveLength(1);
		// Once it ended, the chat takes the next message.
		await runStatus(chatId);
		const next = await sendChat(client, { model: 'small', chatId, text: 'Next' });
		expect(next.status).toBe(200);
	});

	it('deleting the chat mid-reply stops the reply; what was produced is still billed', async () => {
		const { client, userId } = await user();
		const chatId = `deleted-${Date.now()}`;
		const reading = sendChat(client, { model: 'small', chatId });
		await partialOf(chatId, 20);
		const deleted = await client.request(`/dashboard/chat/${chatId}?/delete`, {
			method: 'POST',
			headers: { 'content-type': 'application/x-www-form-urlencoded' },
			body: ''
		});
		expect(deleted.status).toBeLessThan(400);
		const reply = await reading;
		expect(reply.text.length).toBeLessThan(DEFAULT_REPLY.length);
		await settledHolds(userId);
		await upstream.idle();
		expect(upstream.requests[0].aborted).toBe(true);
		const rows = await usageRows(userId);
		expect(rows).toHaveLength(1);
		expect(rows[0].metadata.aborted).toBe(true);
	});

	it('a server stopping (SIGTERM) lets a running reply finish, save and settle before it exits', async () => {
		const { userId } = await user();
		const stopping = await launchApp({ DATABASE_URL: app.databaseUrl, ...env(upstream.url) });
		const client = new HttpClient(stopping.url);
		await client.postForm('/login', {
			email: (await sql`select email from "user" where id = ${userId}`)[0].email,
			password: 'correct horse'
		});
		// The tab is closed after a few tokens, then the deploy stops this instance.
		const reply = await sendChat(client, { model: 'small', stopAfterDeltas: 3 });
		expect(reply.status).toBe(200);
		await stopping.stop();
		const holds = await sql`select status from credit_hold where user_id = ${userId}`;
		expect(holds.map((h) => h.status)).toEqual(['settled']);
		const stored = await replyOf(reply.chatId);
		expect(stored.parts).toEqual([{ type: 'text', text: DEFAULT_REPLY }]);
		expect(stored.metadata.receipt.aborted).toBe(false);
	});

	it('a run left "running" by a dead process neither hangs /stream nor blocks the chat', async () => {
		const { client, userId } = await user();
		const doomed = await launchApp({ DATABASE_URL: app.databaseUrl, ...env(upstream.url) });
		try {
			const [row] = await sql`select email from "user" where id = ${userId}`;
			const there = new HttpClient(doomed.url);
			await there.postForm('/login', { email: row.email, password: 'correct horse' });
			const chatId = `dead-${Date.now()}`;
			void sendChat(there, { model: 'small', chatId }).catch(() => {});
			await partialOf(chatId, 10);
			process.kill(doomed.pid, 'SIGKILL');
			await sleep(200);
			const [running] = await sql`select status from chat_run where chat_id = ${chatId}`;
			expect(running.status).toBe('running');
			// Its heartbeat has stopped; once it is old enough, the run counts as lost.
			await sql`update chat_run set updated_at = now() - interval '20 seconds'
				where chat_id = ${chatId}`;
			const resumed = await resumeChat(client, chatId);
			expect(resumed.status).toBe(204);
			const next = await sendChat(client, { model: 'small', chatId, text: 'Still there?' });
			expect(next.status).toBe(200);
			expect(next.text).toBe(DEFAULT_REPLY);
		} finally {
			await doomed.stop().catch(() => {});
		}
	});
});
