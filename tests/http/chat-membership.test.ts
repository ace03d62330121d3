import postgres from 'postgres';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { promptTokens } from '../../src/lib/server/chat/tokens';
import { balanceOf, grant, verify } from '../../src/lib/server/credits';
import { openDatabase, type Database } from '../../src/lib/server/db/client';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { sendChat } from '../helpers/chat-client';
import { HttpClient } from '../helpers/http-client';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openai-server';

// Membership replies against the built app and a local OpenAI-compatible server: while the
// membership is active a reply costs 0 credits but is metered (a usage row of amount 0 with its
// tokens), up to the daily fair-use cap MEMBERSHIP_DAILY_TOKENS (small here); the reply that
// crosses the cap pays its tokens beyond the allowance in credits, and later ones are charged
// normally.

const CAP = 2_500;
const MAX_OUTPUT = 2_048;

describe('membership replies with a daily fair-use cap', () => {
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
			OPENAI_API_STYLE: 'chat',
			CHAT_MODELS: 'small:1',
			CHAT_MAX_OUTPUT_TOKENS: String(MAX_OUTPUT),
			SIGNUP_BONUS_CREDITS: '0',
			SWEEP_INTERVAL_SECONDS: '0',
			MEMBERSHIP_DAILY_TOKENS: String(CAP)
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

	/** A signed-in member (an active membership subscription paid until next month) with credits. */
	async function member(credits: number) {
		const client = new HttpClient(app.url);
		const email = `member-${users++}@example.com`;
		await client.postForm('/signup', { name: 'M', email, password: 'correct horse' });
		const [row] = await sql`select id from "user" where email = ${email}`;
		const userId = row.id as string;
		await sql`insert into billing_subscription
			(id, user_id, polar_product_id, product_name, membership, status, current_period_start,
			 current_period_end, event_at)
			values (${`sub_${userId}`}, ${userId}, 'prod_member', 'Member', true, 'active',
			 now() - interval '1 day', now() + interval '30 days', now())`;
		if (credits > 0) {
			await grant(database.db, {
				userId,
				source: 'purchase',
				name: 'Pack',
				credits,
				expiresAt: null,
				key: `${userId}:pack`
			});
		}
		return { client, userId };
	}

	/** The stored reply of a chat once it is settled and saved (that runs after the response). */
	async function storedReply(chatId: string) {
		for (let i = 0; i < 200; i++) {
			const [reply] = await sql`select metadata from chat_message
				where chat_id = ${chatId} and role = 'assistant'`;
			if (reply) return reply.metadata as { receipt: Record<string, unknown> };
			await new Promise((resolve) => setTimeout(resolve, 25));
		}
		throw new Error(`the reply of ${chatId} was not stored`);
	}

	const usageRows = (userId: string) =>
		sql`select amount, package_id, balance_after, metadata from credit_transaction
			where user_id = ${userId} and type = 'usage' order by id`;

	it('pays from the allowance, splits the reply that crosses the cap, then charges normally', async () => {
		const { client, userId } = await member(100);

		// 1,500 tokens, all within the 2,500-token allowance: 0 credits, metered.
		upstream.behavior.usage = { prompt: 1_000, completion: 500 };
		const first = await sendChat(client, { model: 'small' });
		expect(first.status).toBe(200);
		const firstReceipt = (await storedReply(first.chatId)).receipt;
		expect(firstReceipt).toMatchObject({
			credits: 0,
			membership: true,
			membershipTokens: 1_500,
			totalTokens: 1_500,
			packages: []
		});
		let rows = await usageRows(userId);
		expect(rows).toHaveLength(1);
		expect(rows[0]).toMatchObject({ amount: 0, package_id: null, balance_after: 100 });
		expect(rows[0].metadata).toMatchObject({
			membershipTokens: 1_500,
			model: 'small',
			inputTokens: 1_000,
			outputTokens: 500,
			totalTokens: 1_500,
			chatId: first.chatId
		});

		// The cap is crossed mid-reply: 1,000 tokens left of the allowance, the reply uses 2,300;
		// the 1,300 beyond it cost ceil(1,300 / 1,000) = 2 credits.
		upstream.behavior.usage = { prompt: 1_200, completion: 1_100 };
		const second = await sendChat(client, { model: 'small' });
		expect(second.status).toBe(200);
		expect(second.text.length).toBeGreaterThan(0);
		const secondReceipt = (await storedReply(second.chatId)).receipt;
		expect(secondReceipt).toMatchObject({
			credits: 2,
			membership: true,
			membershipTokens: 1_000,
			totalTokens: 2_300
		});
		rows = await usageRows(userId);
		expect(rows.slice(1).map((r) => [r.amount, r.package_id === null])).toEqual([
			[-2, false],
			[0, true]
		]);
		expect(rows[2].metadata).toMatchObject({ membershipTokens: 1_000, chatId: second.chatId });
		expect(rows[2].balance_after).toBe(98);
		// The hold set aside the allowance's 1,000 tokens and credits for the worst case's rest.
		const estimate = await promptTokens([{ text: 'Hello there' }]);
		const [hold] = await sql`select amount, membership_tokens, charged_credits from credit_hold
			where user_id = ${userId} order by created_at desc limit 1`;
		expect(hold).toMatchObject({
			membership_tokens: 1_000,
			amount: Math.ceil((estimate + MAX_OUTPUT - 1_000) / 1_000),
			charged_credits: 2
		});

		// Past the cap: charged normally, ceil(2,200 / 1,000) = 3 credits, no membership row.
		upstream.behavior.usage = { prompt: 1_500, completion: 700 };
		const third = await sendChat(client, { model: 'small' });
		expect(third.status).toBe(200);
		const thirdReceipt = (await storedReply(third.chatId)).receipt;
		expect(thirdReceipt).toMatchObject({ credits: 3, totalTokens: 2_200 });
		expect(thirdReceipt.membership).toBeUndefined();
		rows = await usageRows(userId);
		expect(rows.slice(3).map((r) => r.amount)).toEqual([-3]);
		expect(rows.filter((r) => r.package_id === null)).toHaveLength(2);
		expect((await balanceOf(database.db, userId)).balance).toBe(95);
		expect((await verify(database.db, { userId })).drifts).toEqual([]);
	});

	it('a member with no credits chats within the allowance, capped to it, then gets a 402', async () => {
		const { client, userId } = await member(0);

		upstream.behavior.usage = { prompt: 1_000, completion: 500 };
		const first = await sendChat(client, { model: 'small' });
		expect(first.status).toBe(200);
		expect((await storedReply(first.chatId)).receipt).toMatchObject({
			credits: 0,
			membership: true,
			membershipTokens: 1_500
		});

		// 1,000 tokens of allowance left and no credits: the output cap is what the allowance pays.
		upstream.behavior.usage = { prompt: 200, completion: 800 };
		const second = await sendChat(client, { model: 'small' });
		expect(second.status).toBe(200);
		const estimate = await promptTokens([{ text: 'Hello there' }]);
		expect(upstream.requests.at(-1)?.body.max_tokens).toBe(1_000 - estimate);
		expect((await storedReply(second.chatId)).receipt).toMatchObject({
			credits: 0,
			membership: true,
			membershipTokens: 1_000
		});

		// The allowance is used up and there are no credits: refused before the model is called.
		upstream.reset();
		const third = await sendChat(client, { model: 'small' });
		expect(third.status).toBe(402);
		expect(third.error).toMatchObject({ code: 'insufficient_credits' });
		expect(upstream.requests).toHaveLength(0);
		const rows = await usageRows(userId);
		expect(rows.map((r) => [r.amount, r.metadata.membershipTokens])).toEqual([
			[0, 1_500],
			[0, 1_000]
		]);
		expect((await verify(database.db, { userId })).drifts).toEqual([]);
	});
});
