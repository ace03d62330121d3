import { sql } from 'drizzle-orm';
import { boolean, check, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { user } from './auth';
import { chat } from './chat';

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const chatRunStatuses = ['running', 'done'] as const;

/**
 * The latest reply of a chat as it is being written, shared by every app instance: the instance
 * running it writes the partial text about twice a second and reads `stop_requested` back (the
 * Stop button may have been pressed on another instance); the others follow `partial` to the end.
 * One row per chat, so at most one reply runs in a chat at a time.
 */
export const chatRun = pgTable(
	'chat_run',
	{
		chatId: text('chat_id')
			.primaryKey()
			.references(() => chat.id, { onDelete: 'cascade' }),
		userId: text('user_id')
			.notNull()
			.references(() => user.id, { onDelete: 'cascade' }),
		/** The id the reply is stored under when it ends (the UI message id). */
		replyId: text('reply_id').notNull(),
		/** The credit hold paying for it; a hold no longer pending means the run is over. */
		holdId: uuid('hold_id').notNull(),
		status: text('status', { enum: chatRunStatuses }).notNull().default('running'),
		stopRequested: boolean('stop_requested').notNull().default(false),
		/** The reply's text so far (bounded by the output cap); the full text once done. */
		partial: text('partial').notNull().default(''),
		startedAt: timestamptz('started_at').notNull().defaultNow(),
		/** Touched on every progress write: a running row that stops moving lost its process. */
		updatedAt: timestamptz('updated_at').notNull().defaultNow()
	},
	(t) => [check('chat_run_status_known', sql`${t.status} in ('running', 'done')`)]
);

export type ChatRunRow = typeof chatRun.$inferSelect;
