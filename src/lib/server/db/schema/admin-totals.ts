import { bigint, date, integer, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';

/**
 * The whole ledger summed per UTC day, type, model and amount, for the admin explorer's totals:
 * a cache of days that are over (their rows can no longer change), filled on read, so totals
 * over a million rows read a few thousand sums plus today's rows. Keeping `amount` in the key
 * lets the amount-range filter apply to the sums exactly. Safe to truncate (with its mark); it
 * refills. It has no user_id on purpose: a filter on one user reads that user's rows instead.
 */
export const adminLedgerDaily = pgTable(
	'admin_ledger_daily',
	{
		day: date('day', { mode: 'string' }).notNull(),
		type: text('type').notNull(),
		/** metadata->>'model', '' when the row names none. */
		model: text('model').notNull(),
		amount: integer('amount').notNull(),
		rows: bigint('rows', { mode: 'number' }).notNull(),
		tokens: bigint('tokens', { mode: 'number' }).notNull()
	},
	(t) => [primaryKey({ columns: [t.day, t.type, t.model, t.amount] })]
);

/** One row (`key` = 'ledger'): every day before `through` is in admin_ledger_daily. */
export const adminLedgerRollup = pgTable('admin_ledger_rollup', {
	key: text('key').primaryKey(),
	through: date('through', { mode: 'string' }).notNull()
});
