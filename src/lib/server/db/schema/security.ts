import { sql } from 'drizzle-orm';
import { check, index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/**
 * Request counters of the rate limiter, one row per bucket (`signin:address:203.0.113.7`,
 * `chat:user:<id>`…). Kept in PostgreSQL so that every app instance counts against the same
 * limit; each hit is one atomic upsert. `blocked_until` is the exponential backoff of an account
 * after repeated failed sign-ins.
 */
export const rateLimit = pgTable(
	'rate_limit',
	{
		key: text('key').primaryKey(),
		hits: integer('hits').notNull(),
		windowEndsAt: timestamptz('window_ends_at').notNull(),
		blockedUntil: timestamptz('blocked_until')
	},
	(t) => [
		check('rate_limit_hits_positive', sql`${t.hits} >= 0`),
		index('rate_limit_window_ends_at_idx').on(t.windowEndsAt)
	]
);
