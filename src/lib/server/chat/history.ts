import { and, asc, desc, eq, sql, type SQL } from 'drizzle-orm';
import { selectRows, type Db } from '../db/client';
import { chat, chatMessage, type ChatMessageRow, type ChatRow } from '../db/schema';
import { escapeLike } from '../text';
import {
	boundChatSearch,
	MAX_CHAT_RESULTS,
	snippetText,
	type ChatSearchHit
} from '../../chat-search';

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

/**
 * The conversation before the message `beforeId` (before the end when it is not stored), oldest
 * first: only the newest `maxMessages`, and only while their stored parts add up to at most
 * `maxChars` characters (the JSON is never shorter than its text). Older messages could not fit
 * the prompt's token budget, so they are neither loaded nor tokenized.
 */
export async function recentHistory(
	db: Db,
	chatId: string,
	limits: HistoryLimits
): Promise<HistoryMessage[]> {
	const [row] = await selectRows<{ history: StoredHistory }>(
		db,
		sql`select ${recentHistoryJson(sql`${chatId}`, limits)} as history`
	);
	return historyMessages(row.history);
}

export interface HistoryLimits {
	beforeId: string;
	maxMessages: number;
	maxChars: number;
}

/** What recentHistoryJson() selects: the messages as JSON, oldest first. */
export type StoredHistory = { id: string; role: 'user' | 'assistant'; parts: unknown }[];

/**
 * recentHistory() as one JSON value (read it with historyMessages()), for a statement that
 * reads more than the history; `chatId` is an SQL expression.
 */
export function recentHistoryJson(chatId: SQL, limits: HistoryLimits): SQL {
	return sql`(select coalesce(json_agg(json_build_object('id', id, 'role', role, 'parts', parts)
			order by created_at, id), '[]')
		from (
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
		where upto <= ${limits.maxChars} and n <= ${limits.maxMessages})`;
}

/** The messages of recentHistoryJson(), their text parts joined. */
export function historyMessages(history: StoredHistory | string): HistoryMessage[] {
	const rows: StoredHistory = typeof history === 'string' ? JSON.parse(history) : history;
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
