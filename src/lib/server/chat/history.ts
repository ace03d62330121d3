import { and, asc, desc, eq, sql } from 'drizzle-orm';
import { selectRows, type Db } from '../db/client';
import type { Executor } from '../credits/transaction';
import { chat, chatMessage, type ChatMessageRow, type ChatRow } from '../db/schema';
import { escapeLike } from '../text';
import {
	boundChatSearch,
	MAX_CHAT_RESULTS,
	snippetText,
	type ChatSearchHit
} from '../../chat-search';
import type { ReplyVersion } from '../../types';
import { versionsAfter } from './versions';

export const MAX_TITLE_LENGTH = 80;

/** What a chat id looks like (the browser makes them; POST /api/chat checks the same shape). */
export const CHAT_ID_PATTERN = /^[\w-]{1,64}$/;

/**
 * False for ids no chat can have. The page routes take the id from the URL, and one with a NUL
 * byte would reach PostgreSQL as text it refuses (a 500) instead of being a missing chat (404).
 */
export function isChatId(id: string): boolean {
	return CHAT_ID_PATTERN.test(id);
}

/** A chat title from the first message: its first line, shortened. */
export function titleFrom(text: string): string {
	const line = text.trim().split('\n')[0].trim() || 'New chat';
	return line.length > MAX_TITLE_LENGTH ? `${line.slice(0, MAX_TITLE_LENGTH - 1)}…` : line;
}

/** The chat with this id, whoever owns it (callers check the owner), or null. */
export async function chatById(db: Db, id: string): Promise<ChatRow | null> {
	const [row] = await db.select().from(chat).where(eq(chat.id, id));
	return row ?? null;
}

/**
 * Creates the user's chat with this id. Returns null when the id was taken meanwhile by
 * another user (callers answer 404, never revealing that it exists).
 */
export async function createChat(
	db: Db,
	input: { id: string; userId: string; title: string; model: string }
): Promise<ChatRow | null> {
	const [created] = await db
		.insert(chat)
		.values({
			id: input.id,
			userId: input.userId,
			title: titleFrom(input.title),
			model: input.model
		})
		.onConflictDoNothing()
		.returning();
	if (created) return created;
	// A concurrent first message of the same user may have created it a moment ago.
	const existing = await chatById(db, input.id);
	return existing?.userId === input.userId ? existing : null;
}

export async function findChat(db: Db, id: string, userId: string): Promise<ChatRow | null> {
	if (!isChatId(id)) return null;
	const [row] = await db
		.select()
		.from(chat)
		.where(and(eq(chat.id, id), eq(chat.userId, userId)));
	return row ?? null;
}

/** The user's chats, most recently active first. */
export function listChats(db: Db, userId: string, limit = 100) {
	return db
		.select({ id: chat.id, title: chat.title, updatedAt: chat.updatedAt })
		.from(chat)
		.where(eq(chat.userId, userId))
		.orderBy(desc(chat.updatedAt))
		.limit(limit);
}

/** Characters of a matching message shown before the match, and in all. */
const SNIPPET_BEFORE = 24;
const SNIPPET_LENGTH = 120;

/**
 * The user's chats whose title or message text contains `query` (any case; `%`, `_` and `\`
 * are literal), most recently active first, at most `limit`. One query: a chat's messages are
 * searched only in their text parts (`{type: 'text', text}`), never in the JSON around them,
 * and the latest matching message gives the snippet. An empty query (after bounding) matches
 * nothing: callers list the chats instead.
 */
export async function searchChats(
	db: Db,
	userId: string,
	query: string,
	limit = MAX_CHAT_RESULTS
): Promise<ChatSearchHit[]> {
	const q = boundChatSearch(query);
	if (!q) return [];
	const pattern = `%${escapeLike(q)}%`;
	const rows = await selectRows<{
		id: string;
		title: string;
		updated_at: string;
		snippet: string | null;
		cut_start: boolean | null;
		cut_end: boolean | null;
	}>(
		db,
		sql`
			select c.id, c.title,
				to_char(c.updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as updated_at,
				substr(hit.text, hit.start, ${SNIPPET_LENGTH}) as snippet,
				hit.start > 1 as cut_start,
				length(hit.text) >= hit.start + ${SNIPPET_LENGTH} as cut_end
			from chat c
			left join lateral (
				select found.text,
					greatest(strpos(lower(found.text), lower(${q})) - ${SNIPPET_BEFORE}, 1) as start
				from chat_message m
				cross join lateral jsonb_array_elements(
					case when jsonb_typeof(m.parts) = 'array' then m.parts else '[]'::jsonb end
				) part
				cross join lateral (select part ->> 'text' as text) found
				where m.chat_id = c.id
				  and m.user_id = ${userId}
				  and jsonb_typeof(part) = 'object'
				  and part ->> 'type' = 'text'
				  and found.text ilike ${pattern}
				order by m.created_at desc, m.id desc
				limit 1
			) hit on true
			where c.user_id = ${userId}
			  and (c.title ilike ${pattern} or hit.text is not null)
			order by c.updated_at desc, c.id
			limit ${limit}`
	);
	return rows.map((row) => ({
		id: row.id,
		title: row.title,
		updatedAt: row.updated_at,
		snippet:
			row.snippet === null
				? null
				: snippetText(row.snippet, row.cut_start === true, row.cut_end === true)
	}));
}

export function chatMessages(db: Db, chatId: string): Promise<ChatMessageRow[]> {
	return db
		.select()
		.from(chatMessage)
		.where(eq(chatMessage.chatId, chatId))
		.orderBy(asc(chatMessage.createdAt));
}

/** A stored message as the model gets it: its text parts joined. */
export interface HistoryMessage {
	id: string;
	role: 'user' | 'assistant';
	text: string;
}

/** The role of the chat's message with this id, or null when there is none. */
export async function storedRole(
	db: Db,
	chatId: string,
	id: string
): Promise<'user' | 'assistant' | null> {
	const [row] = await db
		.select({ role: chatMessage.role })
		.from(chatMessage)
		.where(and(eq(chatMessage.chatId, chatId), eq(chatMessage.id, id)));
	return row?.role ?? null;
}

/**
 * The conversation before the message `beforeId` (before the end when it is not stored), oldest
 * first: only the newest `maxMessages`, and only while their stored parts add up to at most
 * `maxChars` characters (the JSON is never shorter than its text). Older messages could not fit
 * the prompt's token budget, so they are neither loaded nor tokenized.
 */
export async function recentHistory(
	db: Db,
	chatId: string,
	limits: { beforeId: string; maxMessages: number; maxChars: number }
): Promise<HistoryMessage[]> {
	const rows = await selectRows<{ id: string; role: 'user' | 'assistant'; parts: unknown }>(
		db,
		sql`
			select id, role, parts from (
				select id, role, parts, created_at,
					sum(length(parts::text)) over newest as upto,
					row_number() over newest as n
				from chat_message
				where chat_id = ${chatId}
				  and created_at < coalesce(
					(select created_at from chat_message where chat_id = ${chatId} and id = ${limits.beforeId}),
					'infinity'::timestamptz)
				window newest as (order by created_at desc, id desc)
			) recent
			where upto <= ${limits.maxChars} and n <= ${limits.maxMessages}
			order by created_at, id`
	);
	return rows.map((row) => ({ id: row.id, role: row.role, text: textOfParts(row.parts) }));
}

/** The text parts of a stored message, joined (other part types are not sent to the model). */
export function textOfParts(parts: unknown): string {
	if (typeof parts === 'string') return textOfParts(JSON.parse(parts));
	if (!Array.isArray(parts)) return '';
	return parts
		.map((part: unknown) =>
			part &&
			typeof part === 'object' &&
			'type' in part &&
			part.type === 'text' &&
			'text' in part &&
			typeof part.text === 'string'
				? part.text
				: ''
		)
		.join('');
}

/** Stores a message (a regenerated reply replaces the one with the same id). */
export async function saveMessage(
	db: Executor,
	message: {
		chatId: string;
		id: string;
		userId: string;
		role: 'user' | 'assistant';
		parts: unknown[];
		metadata?: Record<string, unknown>;
	}
): Promise<void> {
	await db
		.insert(chatMessage)
		.values({ ...message, metadata: message.metadata ?? {} })
		.onConflictDoUpdate({
			target: [chatMessage.chatId, chatMessage.id],
			set: { parts: message.parts, metadata: message.metadata ?? {} }
		});
	await db
		.update(chat)
		.set({ updatedAt: sql`now()` })
		.where(eq(chat.id, message.chatId));
}

/**
 * Stores the user's question as the chat's latest message, in one transaction: messages after
 * it are dropped first (regenerate and edit replace the replies that followed). The reply that
 * directly followed it is returned as versions for the reply that replaces it (see versions.ts);
 * the ledger keeps the dropped replies' rows as they are (they were paid for).
 */
export async function saveQuestion(
	db: Db,
	question: { chatId: string; id: string; userId: string; text: string }
): Promise<ReplyVersion[]> {
	return db.transaction(async (tx) => {
		const [replaced] = await tx
			.select()
			.from(chatMessage)
			.where(
				and(
					eq(chatMessage.chatId, question.chatId),
					eq(chatMessage.role, 'assistant'),
					sql`${chatMessage.createdAt} > (select created_at from chat_message where chat_id = ${question.chatId} and id = ${question.id})`
				)
			)
			.orderBy(asc(chatMessage.createdAt), asc(chatMessage.id))
			.limit(1);
		await tx.execute(sql`
			delete from chat_message
			where chat_id = ${question.chatId}
			  and created_at > (select created_at from chat_message where chat_id = ${question.chatId} and id = ${question.id})`);
		await saveMessage(tx, {
			chatId: question.chatId,
			id: question.id,
			userId: question.userId,
			role: 'user',
			parts: [{ type: 'text', text: question.text }]
		});
		return replaced
			? versionsAfter({
					id: replaced.id,
					text: textOfParts(replaced.parts),
					metadata: replaced.metadata,
					createdAt: replaced.createdAt
				})
			: [];
	});
}

export async function renameChat(
	db: Db,
	id: string,
	userId: string,
	title: string
): Promise<boolean> {
	if (!isChatId(id)) return false;
	const updated = await db
		.update(chat)
		.set({ title: titleFrom(title) })
		.where(and(eq(chat.id, id), eq(chat.userId, userId)))
		.returning({ id: chat.id });
	return updated.length === 1;
}

export async function deleteChat(db: Db, id: string, userId: string): Promise<boolean> {
	if (!isChatId(id)) return false;
	const deleted = await db
		.delete(chat)
		.where(and(eq(chat.id, id), eq(chat.userId, userId)))
		.returning({ id: chat.id });
	return deleted.length === 1;
}
