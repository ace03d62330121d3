import { describe, expect, it } from 'vitest';
import { searchChats } from '../../src/lib/server/chat/history';
import { MAX_CHAT_SEARCH } from '../../src/lib/chat-search';
import type { Db } from '../../src/lib/server/db/client';
import { chat, chatMessage } from '../../src/lib/server/db/schema';
import { databaseKinds, useTestDatabase } from '../helpers/databases';
import { createUser } from '../helpers/users';
import { eq } from 'drizzle-orm';

let messages = 0;

async function chatWith(
	db: Db,
	userId: string,
	id: string,
	title: string,
	texts: { role?: 'user' | 'assistant'; parts: unknown[] }[] = [],
	updatedAt?: Date
) {
	await db.insert(chat).values({ id, userId, title, model: 'demo' });
	for (const message of texts) {
		await db.insert(chatMessage).values({
			chatId: id,
			id: `m-${++messages}`,
			userId,
			role: message.role ?? 'user',
			parts: message.parts
		});
	}
	if (updatedAt) await db.update(chat).set({ updatedAt }).where(eq(chat.id, id));
}

const text = (t: string) => ({ parts: [{ type: 'text', text: t }] });
const ids = (hits: { id: string }[]) => hits.map((h) => h.id);

describe.each(databaseKinds)('searching chats on %s', (kind) => {
	const database = useTestDatabase(kind);
	const db = () => database().db;
	let alice: string;
	let bob: string;

	it('sets up two users', async () => {
		alice = await createUser(db(), 'alice-search@example.com');
		bob = await createUser(db(), 'bob-search@example.com');
		const day = 86_400_000;
		const now = Date.now();
		await chatWith(db(), alice, 'a-title', 'Sourdough starter', [text('How warm?')], new Date(now));
		await chatWith(
			db(),
			alice,
			'a-content',
			'Baking questions',
			[
				text('What flour should I use?'),
				{
					role: 'assistant',
					parts: [
						{ type: 'step-start' },
						{ type: 'text', text: 'For a SOURDOUGH loaf, bread flour works best.' }
					]
				}
			],
			new Date(now - day)
		);
		await chatWith(
			db(),
			alice,
			'a-literal',
			'Discounts',
			[text('Is it 100% off or 50_percent? Path C:\\temp')],
			new Date(now - 2 * day)
		);
		await chatWith(
			db(),
			alice,
			'a-other',
			'Weather',
			[text('Rain tomorrow?')],
			new Date(now - 3 * day)
		);
		await chatWith(db(), bob, 'b-secret', 'Sourdough secrets of Bob', [text('sourdough by bob')]);
		expect(alice).not.toBe(bob);
	});

	it('matches the title and the message text, any case, newest first', async () => {
		const hits = await searchChats(db(), alice, 'sourDOUGH');
		expect(ids(hits)).toEqual(['a-title', 'a-content']);
		expect(hits[0].snippet).toBeNull();
		expect(hits[1].snippet).toBe('For a SOURDOUGH loaf, bread flour works best.');
		expect(hits[1].updatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
	});

	it("never returns another user's chats", async () => {
		expect(ids(await searchChats(db(), alice, 'bob'))).toEqual([]);
		expect(ids(await searchChats(db(), alice, 'secrets'))).toEqual([]);
		expect(ids(await searchChats(db(), bob, 'sourdough'))).toEqual(['b-secret']);
		expect(ids(await searchChats(db(), bob, 'flour'))).toEqual([]);
	});

	it('treats %, _ and \\ literally', async () => {
		expect(ids(await searchChats(db(), alice, '%'))).toEqual(['a-literal']);
		expect(ids(await searchChats(db(), alice, '_'))).toEqual(['a-literal']);
		expect(ids(await searchChats(db(), alice, '100%'))).toEqual(['a-literal']);
		expect(ids(await searchChats(db(), alice, '50_p'))).toEqual(['a-literal']);
		expect(ids(await searchChats(db(), alice, '0 p'))).toEqual([]);
		expect(ids(await searchChats(db(), alice, 'C:\\temp'))).toEqual(['a-literal']);
		expect(ids(await searchChats(db(), alice, 'f%r'))).toEqual([]);
	});

	it('matches only text, not the JSON around it', async () => {
		for (const q of ['type', 'text', 'step-start', '"', '{', 'step', '": "']) {
			expect(ids(await searchChats(db(), alice, q)), q).toEqual([]);
		}
	});

	it('ignores blank searches and bounds long ones', async () => {
		expect(await searchChats(db(), alice, '   ')).toEqual([]);
		const long = `Sourdough${' '.repeat(MAX_CHAT_SEARCH)}zzz`;
		expect(ids(await searchChats(db(), alice, long))).toEqual(['a-title', 'a-content']);
	});

	it('cuts long messages around the match and caps the results', async () => {
		const long = `${'lorem ipsum '.repeat(40)}NEEDLE here\n\n${'dolor sit '.repeat(40)}`;
		await chatWith(db(), alice, 'a-long', 'Long one', [text(long)]);
		const [hit] = await searchChats(db(), alice, 'needle');
		expect(hit.id).toBe('a-long');
		expect(hit.snippet).toMatch(/^….*NEEDLE here dolor.*…$/);
		expect(hit.snippet!.length).toBeLessThan(150);

		for (let i = 0; i < 5; i++) await chatWith(db(), alice, `cap-${i}`, `Capped ${i}`);
		expect(await searchChats(db(), alice, 'capped', 3)).toHaveLength(3);
		expect(await searchChats(db(), alice, 'capped')).toHaveLength(5);
	});
});
