import { eq } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { promptTokens, tokensIn } from '../../src/lib/server/chat/tokens';
import { balanceOf, grant } from '../../src/lib/server/credits';
import { openDatabase, type Database } from '../../src/lib/server/db/client';
import { creditHold } from '../../src/lib/server/db/schema';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { sendChat } from '../helpers/chat-client';
import { HttpClient } from '../helpers/http-client';
import { DEFAULT_REPLY, startOpenAIServer, type OpenAIServer } from '../helpers/openai-server';

const DAY = 86_400_000;

describe.each(['chat', 'responses'] as const)(
	'metered chat against a local OpenAI (%s API)',
	(style) => {
		let upstream: OpenAIServer;
		let app: AppServer;
		let database: Database;
		let sql: postgres.Sql;
		let users = 0;

		beforeAll(async () => {
			upstream = await startOpenAIServer();
			app = await startAppServer({
				OPENAI_BASE_URL: upstream.url,
				OPENAI_API_KEY: 'test-key',
				OPENAI_API_STYLE: style,
				CHAT_MODELS: 'small:1,big:10',
				SIGNUP_BONUS_CREDITS: '0',
				CHAT_MAX_CONCURRENT: '20',
				CHAT_MAX_INPUT_CHARS: '2000',
				SWEEP_INTERVAL_SECONDS: '0'
			});
			database = openDatabase({ url: app.databaseUrl, dataDir: null, maxConnections: 4 });
			sql = postgres(app.databaseUrl, { max: 1 });
		});
		afterAll(async () => {
			await sql?.end();
			await database?.close();
			await app?.stop();
			await upstream?.close();
		});
		beforeEach(() => upstream.reset());

		/** A signed-in user holding these packages. */
		async function userWith(...packages: { credits: number; days?: number }[]) {
			const client = new HttpClient(app.url);
			const email = `chat-${style}-${users++}@example.com`;
			await client.postForm('/signup', { name: 'C', email, password: 'correct horse' });
			const [row] = await sql`select id from "user" where email = ${email}`;
			const userId = row.id as string;
			for (const [i, p] of packages.entries()) {
				await grant(database.db, {
					userId,
					source: 'purchase',
					name: `Pack ${i + 1}`,
					credits: p.credits,
					expiresAt: p.days ? new Date(Date.now() + p.days * DAY) : null,
					key: `${userId}:pack:${i}`
				});
			}
			return { client, userId };
		}

		const usageRows = (userId: string) =>
			sql`select amount, package_id, metadata from credit_transaction
		    where user_id = ${userId} and type = 'usage' order by id`;

		/** Waits until the user's holds are all resolved (settlement runs after the response ends). */
		async function settled(userId: string) {
			for (let i = 0; i < 100; i++) {
				const pending = await database.db
					.select()
					.from(creditHold)
					.where(eq(creditHold.userId, userId));
				if (pending.length > 0 && pending.every((h) => h.status !== 'pending')) return pending;
				await new Promise((resolve) => setTimeout(resolve, 50));
			}
			throw new Error('holds were not resolved in time');
		}

		it('charges ceil((1,500 in + 700 out) / 1000) = 3 credits with one usage row', async () => {
			const { client, userId } = await userWith({ credits: 100 });
			upstream.behavior.usage = { prompt: 1500, completion: 700 };
			const reply = await sendChat(client, { model: 'small' });
			expect(reply.status).toBe(200);
			expect(reply.text).toBe(DEFAULT_REPLY);
			await settled(userId);
			const rows = await usageRows(userId);
			expect(rows.map((r) => r.amount)).toEqual([-3]);
			expect(rows[0].metadata).toMatchObject({
				model: 'small',
				inputTokens: 1500,
				outputTokens: 700,
				totalTokens: 2200,
				chatId: reply.chatId,
				messageId: expect.any(String),
				aborted: false
			});
			expect((await balanceOf(database.db, userId)).balance).toBe(97);
		});

		it('charges a 6-credit reply across two packages, soonest-expiring first', async () => {
			const { client, userId } = await userWith({ credits: 10 }, { credits: 4, days: 3 });
			upstream.behavior.usage = { prompt: 5000, completion: 1000 };
			await sendChat(client, { model: 'small' });
			await settled(userId);
			const rows = await usageRows(userId);
			expect(rows.map((r) => r.amount)).toEqual([-4, -2]);
			expect(new Set(rows.map((r) => r.package_id)).size).toBe(2);
			expect((await balanceOf(database.db, userId)).balance).toBe(8);
		});

		it('applies a model rate of 10 credits per 1,000 tokens', async () => {
			const { client, userId } = await userWith({ credits: 100 });
			upstream.behavior.usage = { prompt: 1500, completion: 700 };
			await sendChat(client, { model: 'big' });
			await settled(userId);
			expect((await usageRows(userId)).map((r) => r.amount)).toEqual([-22]);
		});

		it('caps the output sent upstream so the reply cannot cost more than the hold', async () => {
			const { client, userId } = await userWith({ credits: 2 });
			await sendChat(client, { model: 'small', text: 'Hello there' });
			const [hold] = await settled(userId);
			expect(hold.amount).toBe(2);
			const estimate = await promptTokens([{ text: 'Hello there' }]);
			const body = upstream.requests[0].body;
			const cap = style === 'chat' ? body.max_tokens : body.max_output_tokens;
			expect(cap).toBe(2000 - estimate);
			expect(hold.chargedCredits).toBeLessThanOrEqual(hold.amount);
		});

		it('charges a stopped reply for what was streamed and releases the hold', async () => {
			const { client, userId } = await userWith({ credits: 50 });
			upstream.behavior.delayMs = 40;
			const reply = await sendChat(client, { model: 'small', pressStopAfterDeltas: 5 });
			expect(reply.text.length).toBeGreaterThan(0);
			await upstream.idle();
			const [hold] = await settled(userId);
			expect(hold.status).toBe('settled');
			expect(upstream.requests[0].aborted).toBe(true);
			const [row] = await usageRows(userId);
			expect(row.metadata.aborted).toBe(true);
			expect(row.metadata.outputTokens).toBeGreaterThanOrEqual(tokensIn(reply.text));
			expect(row.metadata.outputTokens).toBeLessThan(tokensIn(DEFAULT_REPLY));
			expect(-row.amount).toBeGreaterThanOrEqual(1);
			expect((await balanceOf(database.db, userId)).reserved).toBe(0);
		});

		it('charges nothing when the upstream fails before any output, and leaves no hold', async () => {
			const { client, userId } = await userWith({ credits: 5 });
			upstream.behavior.failWith = 500;
			const reply = await sendChat(client, { model: 'small' });
			expect(reply.chunks.some((c) => c.type === 'error')).toBe(true);
			const [hold] = await settled(userId);
			expect(hold.status).toBe('voided');
			expect(await usageRows(userId)).toHaveLength(0);
			expect(await balanceOf(database.db, userId)).toMatchObject({ balance: 5, reserved: 0 });
			expect(upstream.requests).toHaveLength(1);
		});

		it('charges the partial output when the connection dies mid-stream', async () => {
			const { client, userId } = await userWith({ credits: 5 });
			upstream.behavior.failAfterChunks = 10;
			await sendChat(client, { model: 'small' });
			const [hold] = await settled(userId);
			expect(hold.status).toBe('settled');
			const rows = await usageRows(userId);
			expect(rows).toHaveLength(1);
			expect(rows[0].metadata.outputTokens).toBeGreaterThanOrEqual(10);
		});

		it('answers 402 at zero balance and never calls the model', async () => {
			const { client } = await userWith();
			const reply = await sendChat(client, { model: 'small' });
			expect(reply.status).toBe(402);
			expect(reply.error).toMatchObject({ code: 'insufficient_credits', balance: 0 });
			expect(upstream.requests).toHaveLength(0);
		});

		it('12 concurrent chats on 8 credits: never below zero, one charge per reply, refused replies cancel their model call', async () => {
			const { client, userId } = await userWith({ credits: 8 });
			upstream.behavior.delayMs = 10;
			const replies = await Promise.all(
				Array.from({ length: 12 }, () => sendChat(client, { model: 'small' }))
			);
			const ok = replies.filter((r) => r.status === 200);
			const refused = replies.filter((r) => r.status === 402);
			expect(ok.length + refused.length).toBe(12);
			expect(ok.length).toBeGreaterThan(0);
			await settled(userId);
			const rows = await usageRows(userId);
			const charged = rows.reduce((total, r) => total - r.amount, 0);
			const perReply = Math.ceil(((await promptTokens([{ text: 'Hello there' }])) + 55) / 1000);
			expect(charged).toBe(ok.length * perReply);
			// A reply that saw enough free credits called the model alongside its reservation;
			// those then refused cut their call off (if it got out at all) and showed none of it.
			await upstream.idle();
			expect(upstream.requests.length).toBeLessThanOrEqual(12);
			expect(upstream.requests.filter((r) => !r.aborted)).toHaveLength(ok.length);
			expect(refused.every((r) => r.text === '')).toBe(true);
			const view = await balanceOf(database.db, userId);
			expect(view).toMatchObject({ balance: 8 - charged, reserved: 0 });
			expect(view.balance).toBeGreaterThanOrEqual(0);
		});

		/**
		 * Holds the user's account lock, which the reservation (credit_reserve) takes first, runs
		 * `meanwhile` once the model was called, then commits and lets the reservation go on.
		 */
		async function withAccountLocked(
			userId: string,
			meanwhile: (tx: postgres.TransactionSql) => unknown
		) {
			const locker = postgres(app.databaseUrl, { max: 1 });
			try {
				await locker.begin(async (tx) => {
					await tx`select 1 from credit_account where user_id = ${userId} for update`;
					await meanwhile(tx);
				});
			} finally {
				await locker.end();
			}
		}

		async function untilCalled(count: number) {
			for (let i = 0; i < 200 && upstream.requests.length < count; i++) {
				await new Promise((resolve) => setTimeout(resolve, 10));
			}
			expect(upstream.requests).toHaveLength(count);
		}

		it('calls the model while the reservation waits, and streams the reply once it is reserved', async () => {
			const { client, userId } = await userWith({ credits: 100 });
			let reply: ReturnType<typeof sendChat> | undefined;
			await withAccountLocked(userId, async () => {
				reply = sendChat(client, { model: 'small' });
				// The reservation cannot commit while the lock is held, yet the model is called.
				await untilCalled(1);
				const [pending] = await sql`select count(*)::int as n from credit_hold
					where user_id = ${userId}`;
				expect(pending.n).toBe(0);
			});
			const done = await reply!;
			expect(done.status).toBe(200);
			expect(done.text).toBe(DEFAULT_REPLY);
			const [hold] = await settled(userId);
			expect(hold.status).toBe('settled');
			expect(await usageRows(userId)).toHaveLength(1);
			expect(upstream.requests).toHaveLength(1);
		});

		it('in a burst, only the first 4 replies call the model before their reservation', async () => {
			const { client, userId } = await userWith({ credits: 100 });
			let replies: ReturnType<typeof sendChat>[] = [];
			await withAccountLocked(userId, async () => {
				replies = Array.from({ length: 6 }, () => sendChat(client, { model: 'small' }));
				await untilCalled(4);
				// The other two wait for their reservation, which waits for the lock.
				await new Promise((resolve) => setTimeout(resolve, 300));
				expect(upstream.requests).toHaveLength(4);
			});
			const done = await Promise.all(replies);
			expect(done.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
			expect(done.every((r) => r.text === DEFAULT_REPLY)).toBe(true);
			await settled(userId);
			expect(upstream.requests).toHaveLength(6);
			expect(upstream.requests.filter((r) => r.aborted)).toHaveLength(0);
			expect(await usageRows(userId)).toHaveLength(6);
		});

		it('cancels that call and shows none of it when the reservation is refused', async () => {
			const { client, userId } = await userWith({ credits: 100 });
			const other = await userWith();
			const chatId = `chat-taken-${style}-${users}`;
			upstream.behavior.delayMs = 20;
			let reply: ReturnType<typeof sendChat> | undefined;
			await withAccountLocked(userId, async (tx) => {
				reply = sendChat(client, { model: 'small', chatId });
				await untilCalled(1);
				// Meanwhile another user's chat takes the id: the reservation's transaction refuses.
				await tx`insert into chat (id, user_id, title, model)
					values (${chatId}, ${other.userId}, 'Theirs', 'small')`;
			});
			const done = await reply!;
			expect(done.status).toBe(404);
			expect(done.text).toBe('');
			await upstream.idle();
			expect(upstream.requests).toHaveLength(1);
			expect(upstream.requests[0].aborted).toBe(true);
			expect(await sql`select 1 from credit_hold where user_id = ${userId}`).toHaveLength(0);
			expect(await sql`select 1 from chat_message where chat_id = ${chatId}`).toHaveLength(0);
			expect(await balanceOf(database.db, userId)).toMatchObject({ balance: 100, reserved: 0 });
		});

		it('refuses bad requests with clear 4xx errors and writes nothing', async () => {
			const { client, userId } = await userWith({ credits: 5 });
			const unknown = await sendChat(client, { model: 'gpt-9' });
			expect(unknown.status).toBe(400);
			expect(unknown.error?.code).toBe('unknown_model');
			const tooLong = await sendChat(client, { model: 'small', text: 'x'.repeat(2001) });
			expect(tooLong.status).toBe(413);
			expect(tooLong.error?.code).toBe('message_too_long');
			for (const body of [
				'not json',
				'{}',
				JSON.stringify({ id: 'a b', model: 'small', message: {} })
			]) {
				const response = await client.request('/api/chat', {
					method: 'POST',
					headers: { 'content-type': 'application/json' },
					body
				});
				expect(response.status).toBe(400);
				expect((await response.json()).error.code).toBe('invalid_request');
			}
			const signedOut = await sendChat(new HttpClient(app.url), { model: 'small' });
			expect(signedOut.status).toBe(401);
			expect(upstream.requests).toHaveLength(0);
			expect(await sql`select 1 from chat where user_id = ${userId}`).toHaveLength(0);
			expect(await sql`select 1 from credit_hold where user_id = ${userId}`).toHaveLength(0);
		});

		it("keeps another user's chat private: 404 on the page and on POST /api/chat", async () => {
			const owner = await userWith({ credits: 5 });
			const intruder = await userWith({ credits: 5 });
			const first = await sendChat(owner.client, { model: 'small' });
			await settled(owner.userId);
			expect((await owner.client.get(`/dashboard/chat/${first.chatId}`)).status).toBe(200);
			expect((await intruder.client.get(`/dashboard/chat/${first.chatId}`)).status).toBe(404);
			const stolen = await sendChat(intruder.client, { model: 'small', chatId: first.chatId });
			expect(stolen.status).toBe(404);
			expect(stolen.error?.code).toBe('chat_not_found');
			expect(upstream.requests).toHaveLength(1);
		});
	}
);

describe('the concurrency limit', () => {
	let upstream: OpenAIServer;
	let app: AppServer;
	let sql: postgres.Sql;
	beforeAll(async () => {
		upstream = await startOpenAIServer({ delayMs: 30 });
		app = await startAppServer({
			OPENAI_BASE_URL: upstream.url,
			CHAT_MODELS: 'small:1',
			CHAT_MAX_CONCURRENT: '2',
			SIGNUP_BONUS_CREDITS: '50'
		});
		sql = postgres(app.databaseUrl, { max: 1 });
	});
	afterAll(async () => {
		await sql?.end();
		await app?.stop();
		await upstream?.close();
	});
	beforeEach(() => upstream.reset());

	async function signedUp(email: string) {
		const client = new HttpClient(app.url);
		await client.postForm('/signup', { name: 'L', email, password: 'correct horse' });
		const [row] = await sql`select id from "user" where email = ${email}`;
		return { client, userId: row.id as string };
	}

	it('answers 429 beyond CHAT_MAX_CONCURRENT streams per user', async () => {
		const { client } = await signedUp('limit@example.com');
		const replies = await Promise.all(
			Array.from({ length: 4 }, () => sendChat(client, { model: 'small' }))
		);
		const statuses = replies.map((r) => r.status).sort();
		expect(statuses).toEqual([200, 200, 429, 429]);
		expect(replies.find((r) => r.status === 429)?.error?.code).toBe('too_many_holds');
	});

	it('calls no model for a reply refused at the limit', async () => {
		const { client, userId } = await signedUp('limit-calls@example.com');
		const running = [sendChat(client, { model: 'small' }), sendChat(client, { model: 'small' })];
		for (let i = 0; i < 200; i++) {
			const [{ n }] = await sql`select count(*)::int as n from credit_hold
				where user_id = ${userId} and status = 'pending'`;
			if (n === 2) break;
			await new Promise((resolve) => setTimeout(resolve, 10));
		}
		expect(upstream.requests).toHaveLength(2);
		// Free credits aplenty, but the limit is reached: no early call.
		const refused = await sendChat(client, { model: 'small' });
		expect(refused.status).toBe(429);
		expect(upstream.requests).toHaveLength(2);
		expect((await Promise.all(running)).map((r) => r.status)).toEqual([200, 200]);
	});
});
