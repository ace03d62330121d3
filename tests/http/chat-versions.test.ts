import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { sendChat } from '../helpers/chat-client';
import { HttpClient } from '../helpers/http-client';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openai-server';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Regenerate and edit (issue 12, "expected controls"): the replaced reply stays reachable as an
 * earlier version of the new one, only the current version reaches the model, and the ledger
 * keeps every reply that was generated (paid once) — nothing is re-billed.
 */
describe('reply versions, edit and resend', () => {
	let app: AppServer;
	let sql: postgres.Sql;
	let users = 0;

	beforeAll(async () => {
		app = await startAppServer({ DEMO_MODEL_DELAY_MS: '0', SIGNUP_BONUS_CREDITS: '500' });
		sql = postgres(app.databaseUrl, { max: 1 });
	});
	afterAll(async () => {
		await sql?.end();
		await app?.stop();
	});

	async function user() {
		const client = new HttpClient(app.url);
		const email = `versions-${users++}@example.com`;
		await client.postForm('/signup', { name: 'V', email, password: 'correct horse' });
		const [row] = await sql`select id from "user" where email = ${email}`;
		return { client, userId: row.id as string };
	}

	/** Waits until the user holds nothing and the chat's last message is a stored reply. */
	async function settled(userId: string, chatId: string) {
		for (let i = 0; i < 200; i++) {
			const [pending] = await sql`select count(*)::int as n from credit_hold
				where user_id = ${userId} and status = 'pending'`;
			const [last] = await sql`select role from chat_message where chat_id = ${chatId}
				order by created_at desc limit 1`;
			if (pending.n === 0 && last?.role === 'assistant') return;
			await sleep(50);
		}
		throw new Error('the reply never settled');
	}

	const messages = (chatId: string) =>
		sql`select id, role, parts, metadata from chat_message where chat_id = ${chatId}
			order by created_at, id`;
	const usage = (userId: string) =>
		sql`select amount, metadata from credit_transaction
			where user_id = ${userId} and type = 'usage' order by id`;
	const textOf = (parts: { text: string }[]) => parts.map((p) => p.text).join('');

	it('regenerate keeps the replaced reply as version 1 of 2, billed once each', async () => {
		const { client, userId } = await user();
		const first = await sendChat(client, { model: 'demo', text: 'Tell me about credits' });
		expect(first.status).toBe(200);
		await settled(userId, first.chatId);
		const [, oldReply] = await messages(first.chatId);
		expect(oldReply.role).toBe('assistant');

		const again = await sendChat(client, {
			model: 'demo',
			chatId: first.chatId,
			messageId: first.messageId,
			text: 'Tell me about credits'
		});
		expect(again.status).toBe(200);
		await settled(userId, first.chatId);

		const rows = await messages(first.chatId);
		expect(rows.map((r) => r.role)).toEqual(['user', 'assistant']);
		const current = rows[1];
		expect(current.id).not.toBe(oldReply.id);
		expect(current.metadata.versions).toEqual([
			{
				id: oldReply.id,
				text: textOf(oldReply.parts),
				receipt: oldReply.metadata.receipt,
				createdAt: expect.any(String)
			}
		]);
		// Both replies were generated, so both were paid, once each; the old row is untouched.
		const charges = await usage(userId);
		expect(charges.map((c) => c.metadata.messageId)).toEqual([oldReply.id, current.id]);
		expect(-charges[0].amount).toBe(oldReply.metadata.receipt.credits);

		// A third run stacks the versions, oldest first.
		await sendChat(client, {
			model: 'demo',
			chatId: first.chatId,
			messageId: first.messageId,
			text: 'Tell me about credits'
		});
		await settled(userId, first.chatId);
		const [, third] = await messages(first.chatId);
		expect(third.metadata.versions.map((v: { id: string }) => v.id)).toEqual([
			oldReply.id,
			current.id
		]);
	});

	it('edit and resend: the question is replaced, later messages dropped, only the new reply billed', async () => {
		const { client, userId } = await user();
		const first = await sendChat(client, { model: 'demo', text: 'First question' });
		await settled(userId, first.chatId);
		const second = await sendChat(client, {
			model: 'demo',
			chatId: first.chatId,
			text: 'Second question'
		});
		await settled(userId, first.chatId);
		const before = await messages(first.chatId);
		expect(before).toHaveLength(4);
		const chargesBefore = await usage(userId);
		expect(chargesBefore).toHaveLength(2);
		const [{ sum: spentBefore }] = await sql`select coalesce(sum(amount), 0)::int as sum
			from credit_transaction where user_id = ${userId} and type = 'usage'`;

		const edited = await sendChat(client, {
			model: 'demo',
			chatId: first.chatId,
			messageId: first.messageId,
			text: 'First question, rephrased'
		});
		expect(edited.status).toBe(200);
		await settled(userId, first.chatId);

		const after = await messages(first.chatId);
		expect(after.map((r) => r.role)).toEqual(['user', 'assistant']);
		expect(after[0].id).toBe(first.messageId);
		expect(textOf(after[0].parts)).toBe('First question, rephrased');
		expect(after.some((r) => r.id === second.messageId)).toBe(false);
		// The reply to the old wording stays readable as version 1.
		expect(after[1].metadata.versions.map((v: { id: string }) => v.id)).toEqual([before[1].id]);

		// The earlier charges are unchanged; one new row, for the new reply only.
		const charges = await usage(userId);
		expect(charges.slice(0, 2)).toEqual(chargesBefore);
		expect(charges).toHaveLength(3);
		expect(charges[2].metadata.messageId).toBe(after[1].id);
		const [{ sum: spentAfter }] = await sql`select coalesce(sum(amount), 0)::int as sum
			from credit_transaction where user_id = ${userId} and type = 'usage'`;
		expect(spentBefore - spentAfter).toBe(after[1].metadata.receipt.credits);
		// The new reply's prompt held only the edited question (history: current versions only).
		expect(after[1].metadata.receipt.inputTokens).toBeLessThan(
			before[3].metadata.receipt.inputTokens
		);
	});

	it('the chat page serves the versions, and the worst-case estimate for the hint', async () => {
		const { client, userId } = await user();
		const first = await sendChat(client, { model: 'demo', text: 'Versions on the page' });
		await settled(userId, first.chatId);
		await sendChat(client, {
			model: 'demo',
			chatId: first.chatId,
			messageId: first.messageId,
			text: 'Versions on the page'
		});
		await settled(userId, first.chatId);
		const response = await client.request(`/dashboard/chat/${first.chatId}/__data.json`);
		expect(response.status).toBe(200);
		const body = await response.text();
		expect(body).toContain('versions');
		expect(body).toContain('maxOutputTokens');
		expect(body).toContain('promptTokens');
	});
});

describe('a regenerate that fails before any output', () => {
	let upstream: OpenAIServer;
	let app: AppServer;
	let sql: postgres.Sql;

	beforeAll(async () => {
		upstream = await startOpenAIServer();
		app = await startAppServer({
			OPENAI_BASE_URL: upstream.url,
			OPENAI_API_KEY: 'test-key',
			OPENAI_API_STYLE: 'chat',
			CHAT_MODELS: 'small:1',
			SIGNUP_BONUS_CREDITS: '50',
			SWEEP_INTERVAL_SECONDS: '0'
		});
		sql = postgres(app.databaseUrl, { max: 1 });
	});
	afterAll(async () => {
		await sql?.end();
		await app?.stop();
		await upstream?.close();
	});

	it('puts the reply it replaced back, with its receipt, and charges nothing more', async () => {
		const client = new HttpClient(app.url);
		await client.postForm('/signup', {
			name: 'F',
			email: 'versions-fail@example.com',
			password: 'correct horse'
		});
		const first = await sendChat(client, { model: 'small', text: 'Keep my answer' });
		expect(first.status).toBe(200);
		const replies = () =>
			sql`select id, parts, metadata from chat_message
				where chat_id = ${first.chatId} and role = 'assistant'`;
		const usage = () =>
			sql`select id from credit_transaction where type = 'usage'
				and metadata->>'chatId' = ${first.chatId}`;
		for (let i = 0; i < 100 && (await replies()).length === 0; i++) await sleep(50);
		const [original] = await replies();
		expect(original).toBeDefined();

		upstream.behavior.failWith = 500;
		const failed = await sendChat(client, {
			model: 'small',
			chatId: first.chatId,
			messageId: first.messageId,
			text: 'Keep my answer'
		});
		expect(failed.chunks.some((c) => c.type === 'error')).toBe(true);
		let restored: postgres.Row[] = [];
		for (let i = 0; i < 100; i++) {
			restored = await replies();
			if (restored.length === 1) break;
			await sleep(50);
		}
		expect(restored).toEqual([original]);
		expect(await usage()).toHaveLength(1);
	});
});
