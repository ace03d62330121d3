import { count, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { openReply, startReply } from '../../src/lib/server/chat/reply-start';
import { LedgerError } from '../../src/lib/server/credits';
import type { Db } from '../../src/lib/server/db/client';
import { chat, chatMessage, chatRun, creditHold } from '../../src/lib/server/db/schema';
import { AppError } from '../../src/lib/server/errors';
import { databaseKinds, useTestDatabase } from '../helpers/databases';
import { userWith } from '../helpers/ledger';
import { createUser } from '../helpers/users';

// What a reply writes before it calls the model is one call of chat_start (drizzle/0016) and
// what it reads one statement (openReply). The chat suites (tests/http/chat*.test.ts) drive both
// through the API; these pin the all-or-nothing rule and the reads directly, on both databases.

let keys = 0;
let replies = 0;

function start(
	db: Db,
	userId: string,
	chatId: string,
	options: { upTo?: number; inputTokens?: number; create?: boolean; questionId?: string } = {}
) {
	return startReply(db, {
		reserve: {
			userId,
			upTo: options.upTo ?? 3,
			membership: { tokens: 2_000, cap: 0, rate: 1 },
			key: `reply:test-${++keys}`,
			chatId,
			maxPending: 10
		},
		inputTokens: options.inputTokens ?? 100,
		create: options.create === false ? null : { title: 'Title', model: 'demo' },
		replyId: `reply-${++replies}`,
		question: { id: options.questionId ?? `q-${replies}`, text: 'Hello?' }
	});
}

async function written(db: Db, chatId: string) {
	const [chats] = await db.select({ n: count() }).from(chat).where(eq(chat.id, chatId));
	const [messages] = await db
		.select({ n: count() })
		.from(chatMessage)
		.where(eq(chatMessage.chatId, chatId));
	const [runs] = await db.select({ n: count() }).from(chatRun).where(eq(chatRun.chatId, chatId));
	const [holds] = await db
		.select({ n: count() })
		.from(creditHold)
		.where(eq(creditHold.chatId, chatId));
	return { chats: chats.n, messages: messages.n, runs: runs.n, holds: holds.n };
}

const nothing = { chats: 0, messages: 0, runs: 0, holds: 0 };

describe.each(databaseKinds)('starting a reply on %s', (kind) => {
	const database = useTestDatabase(kind);
	const db = () => database().db;

	it('writes the hold, the chat, the run and the question together', async () => {
		const { userId } = await userWith(db(), { credits: 10 });
		const started = await start(db(), userId, 'start-all');
		expect(started).toMatchObject({ amount: 3, membershipTokens: 0, replaced: [] });
		expect(await written(db(), 'start-all')).toEqual({ chats: 1, messages: 1, runs: 1, holds: 1 });
		const [run] = await db().select().from(chatRun).where(eq(chatRun.chatId, 'start-all'));
		expect(run).toMatchObject({ status: 'running', holdId: started.holdId, userId });
	});

	it('leaves nothing behind when the credits run short', async () => {
		const poor = await createUser(db());
		await expect(start(db(), poor, 'start-poor')).rejects.toMatchObject({
			code: 'insufficient_credits'
		});
		expect(await written(db(), 'start-poor')).toEqual(nothing);
		// The hold would take 1 credit = 1,000 tokens: not enough for a 1,000-token prompt.
		const { userId } = await userWith(db(), { credits: 1 });
		const refused = await start(db(), userId, 'start-short', { inputTokens: 1_000 }).catch(
			(error: unknown) => error
		);
		expect(refused).toBeInstanceOf(AppError);
		expect(refused).toMatchObject({ status: 402, code: 'insufficient_credits' });
		expect((refused as AppError).details).toEqual({ balance: 1 });
		expect(await written(db(), 'start-short')).toEqual(nothing);
		// One token of output fits: 999 tokens of prompt.
		await start(db(), userId, 'start-short', { inputTokens: 999 });
		expect(await written(db(), 'start-short')).toMatchObject({ chats: 1, holds: 1 });
	});

	it("answers another user's chat as missing and writes nothing", async () => {
		const owner = await userWith(db(), { credits: 10 });
		const other = await userWith(db(), { credits: 10 });
		await start(db(), owner.userId, 'start-owned');
		for (const create of [true, false]) {
			await expect(start(db(), other.userId, 'start-owned', { create })).rejects.toMatchObject({
				status: 404,
				code: 'chat_not_found'
			});
		}
		expect(await written(db(), 'start-owned')).toEqual({
			chats: 1,
			messages: 1,
			runs: 1,
			holds: 1
		});
		// An existing chat that is gone meanwhile is missing too (not created again).
		await expect(start(db(), owner.userId, 'start-gone', { create: false })).rejects.toMatchObject({
			status: 404
		});
		expect(await written(db(), 'start-gone')).toEqual(nothing);
	});

	it('claims the chat for one reply at a time; the refused one holds nothing', async () => {
		const { userId } = await userWith(db(), { credits: 10 });
		const results = await Promise.allSettled(
			Array.from({ length: 4 }, () => start(db(), userId, 'start-busy'))
		);
		const refused = results.filter((r) => r.status === 'rejected');
		expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
		expect(refused).toHaveLength(3);
		for (const r of refused) {
			expect((r as PromiseRejectedResult).reason).toMatchObject({
				status: 409,
				code: 'reply_in_progress'
			});
		}
		expect(await written(db(), 'start-busy')).toMatchObject({ chats: 1, runs: 1, holds: 1 });
		// Once the run is done, the chat takes the next reply.
		await db().update(chatRun).set({ status: 'done' }).where(eq(chatRun.chatId, 'start-busy'));
		await start(db(), userId, 'start-busy', { create: false });
		expect(await written(db(), 'start-busy')).toMatchObject({ holds: 2 });
	});

	it('passes the ledger refusals through (too many holds)', async () => {
		const { userId } = await userWith(db(), { credits: 100 });
		const max = (chatId: string) =>
			startReply(db(), {
				reserve: { userId, upTo: 1, key: `reply:test-${++keys}`, chatId, maxPending: 1 },
				inputTokens: 1,
				create: { title: 'T', model: 'demo' },
				replyId: `reply-${++replies}`,
				question: { id: 'q', text: 'Hi' }
			});
		await max('start-max-1');
		const refused = await max('start-max-2').catch((error: unknown) => error);
		expect(refused).toBeInstanceOf(LedgerError);
		expect(refused).toMatchObject({ code: 'too_many_holds' });
		expect(await written(db(), 'start-max-2')).toEqual(nothing);
	});

	it('a resent question drops what followed it and returns the reply it replaces', async () => {
		const { userId } = await userWith(db(), { credits: 10 });
		await start(db(), userId, 'start-again', { questionId: 'q1' });
		const at = (s: number) => new Date(Date.UTC(2026, 10, 1, 0, 0, s));
		await db()
			.update(chatMessage)
			.set({ createdAt: at(1) })
			.where(eq(chatMessage.chatId, 'start-again'));
		await db()
			.insert(chatMessage)
			.values([
				{
					chatId: 'start-again',
					id: 'a1',
					userId,
					role: 'assistant',
					parts: [{ type: 'text', text: 'First answer' }],
					metadata: { receipt: { credits: 1 } },
					createdAt: at(2)
				},
				{
					chatId: 'start-again',
					id: 'q2',
					userId,
					role: 'user',
					parts: [{ type: 'text', text: 'More?' }],
					createdAt: at(3)
				}
			]);
		await db().update(chatRun).set({ status: 'done' }).where(eq(chatRun.chatId, 'start-again'));
		const again = await start(db(), userId, 'start-again', { questionId: 'q1', create: false });
		expect(again.replaced).toEqual([
			{
				id: 'a1',
				text: 'First answer',
				receipt: { credits: 1 },
				createdAt: at(2).toISOString()
			}
		]);
		const left = await db()
			.select({ id: chatMessage.id })
			.from(chatMessage)
			.where(eq(chatMessage.chatId, 'start-again'));
		expect(left.map((m) => m.id)).toEqual(['q1']);
	});

	it('reads the chat, the question, the run, the history and the free credits in one statement, for the owner', async () => {
		const { userId } = await userWith(db(), { credits: 10 });
		const other = await createUser(db());
		await start(db(), userId, 'open-chat', { questionId: 'q1' });
		const open = (as: string, questionId: string, max = 0) =>
			openReply(db(), {
				userId: as,
				chatId: 'open-chat',
				questionId,
				rateKey: `chat:test:${as}`,
				limit: { max, windowSeconds: 60 },
				history: { maxMessages: 10, maxChars: 10_000 }
			});
		expect(await open(userId, 'q2')).toEqual({
			verdict: { allowed: true },
			chat: { userId, title: 'Title' },
			questionRole: null,
			busy: true,
			history: [{ id: 'q1', role: 'user', text: 'Hello?' }],
			// 10 credits, less the 3 the running reply's hold set aside.
			freeCredits: 7,
			pendingHolds: 1
		});
		expect(await open(userId, 'q1')).toMatchObject({ questionRole: 'user', history: [] });
		// Another user learns the owner (to answer 404) and nothing of the messages.
		expect(await open(other, 'q1')).toEqual({
			verdict: { allowed: true },
			chat: { userId, title: 'Title' },
			questionRole: null,
			busy: false,
			history: [],
			freeCredits: 0,
			pendingHolds: 0
		});
		// The hit is counted: the third within the window is refused, and reads no history.
		expect((await open(userId, 'q2', 2)).verdict).toEqual({ allowed: true });
		expect((await open(userId, 'q2', 2)).verdict).toEqual({ allowed: true });
		const third = await open(userId, 'q2', 2);
		expect(third.verdict).toMatchObject({ allowed: false });
		expect(third.history).toEqual([]);
		expect(third).toMatchObject({ freeCredits: 0, pendingHolds: 0 });
		// A new chat: nothing to read but the user's credits.
		expect(
			await openReply(db(), {
				userId,
				chatId: 'no-such-chat',
				questionId: 'q',
				rateKey: 'chat:test:none',
				limit: { max: 0, windowSeconds: 60 },
				history: { maxMessages: 10, maxChars: 10_000 }
			})
		).toMatchObject({ chat: null, history: [], freeCredits: 7, pendingHolds: 1 });
	});
});
