import { sql } from 'drizzle-orm';
import { check, index, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { user } from './auth';

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** A conversation; its id is chosen by the browser (the AI SDK's chat id). */
export const chat = pgTable(
	'chat',
	{
		id: text('id').primaryKey(),
		userId: text('user_id')
			.notNull()
			.references(() => user.id, { onDelete: 'cascade' }),
		title: text('title').notNull(),
		model: text('model').notNull(),
		createdAt: timestamptz('created_at').notNull().defaultNow(),
		updatedAt: timestamptz('updated_at').notNull().defaultNow()
	},
	(t) => [index('chat_user_recent_idx').on(t.userId, t.updatedAt.desc())]
);

/** One message of a chat, stored in the AI SDK's UI message shape (`parts`). */
export const chatMessage = pgTable(
	'chat_message',
	{
		chatId: text('chat_id')
			.notNull()
			.references(() => chat.id, { onDelete: 'cascade' }),
		id: text('id').notNull(),
		userId: text('user_id')
			.notNull()
			.references(() => user.id, { onDelete: 'cascade' }),
		role: text('role', { enum: ['user', 'assistant'] }).notNull(),
		parts: jsonb('parts').$type<unknown[]>().notNull(),
		/** For replies: the receipt (tokens, credits, packages, model, aborted, error). */
		metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
		createdAt: timestamptz('created_at').notNull().defaultNow()
	},
	(t) => [
		primaryKey({ columns: [t.chatId, t.id] }),
		check('chat_message_role_known', sql`${t.role} in ('user', 'assistant')`),
		index('chat_message_chat_idx').on(t.chatId, t.createdAt)
	]
);

export type ChatRow = typeof chat.$inferSelect;
export type ChatMessageRow = typeof chatMessage.$inferSelect;
