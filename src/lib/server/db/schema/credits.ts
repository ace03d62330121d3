import { sql } from 'drizzle-orm';
import {
	bigint,
	bigserial,
	boolean,
	check,
	date,
	index,
	integer,
	jsonb,
	pgTable,
	primaryKey,
	text,
	timestamp,
	uniqueIndex,
	uuid
} from 'drizzle-orm/pg-core';
import { user } from './auth';

// Every table carries user_id and every ledger transaction touches one user, so the same schema
// can be sharded by user_id (e.g. on Citus) without code changes.

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** `column in ('a', 'b', …)`, so the database itself refuses a value the code does not know. */
const oneOf = (column: unknown, values: readonly string[]) =>
	sql`${column} in (${sql.join(
		values.map((v) => sql.raw(`'${v}'`)),
		sql`, `
	)})`;

export const packageSources = [
	'signup_bonus',
	'purchase',
	'subscription',
	'admin_grant',
	/** The extra credits of a bigger pack (product metadata `bonus_credits`), beside its package. */
	'bonus',
	/** FREE_MONTHLY_CREDITS: one package per user and UTC month, valid until the month ends. */
	'free_monthly'
] as const;
export const transactionTypes = [
	'bonus',
	'purchase',
	'subscription',
	'grant',
	'usage',
	'refund',
	'expire',
	'adjust'
] as const;
export const holdStatuses = ['pending', 'settled', 'voided', 'expired'] as const;

/** One row per user: every ledger operation locks it first, which serialises that user's money. */
export const creditAccount = pgTable('credit_account', {
	userId: text('user_id')
		.primaryKey()
		.references(() => user.id, { onDelete: 'cascade' }),
	createdAt: timestamptz('created_at').notNull().defaultNow()
});

/** One grant of credits: a purchase, a subscription cycle, the signup bonus or an admin grant. */
export const creditPackage = pgTable(
	'credit_package',
	{
		id: uuid('id').primaryKey().defaultRandom(),
		userId: text('user_id')
			.notNull()
			.references(() => user.id, { onDelete: 'cascade' }),
		source: text('source', { enum: packageSources }).notNull(),
		name: text('name').notNull(),
		initialCredits: integer('initial_credits').notNull(),
		remainingCredits: integer('remaining_credits').notNull(),
		/** Credits taken back by refunds. */
		revokedCredits: integer('revoked_credits').notNull().default(0),
		/** Credits forfeited when the package expired (written by the expiry sweep). */
		expiredCredits: integer('expired_credits').notNull().default(0),
		/** NULL = never expires. */
		expiresAt: timestamptz('expires_at'),
		polarOrderId: text('polar_order_id'),
		polarProductId: text('polar_product_id'),
		polarSubscriptionId: text('polar_subscription_id'),
		/**
		 * Credits this package may give per UTC day (product metadata `daily_limit`); NULL = no
		 * limit. What it gave today is the sum of today's usage rows on it.
		 */
		dailyLimit: integer('daily_limit'),
		/**
		 * Set while the package may not be spent: its subscription was revoked or has ended (a plan
		 * pool is usable only while the plan is active). Cleared when the subscription is active again.
		 */
		frozenAt: timestamptz('frozen_at'),
		/** A `bonus` package: the package it came with (refunds revoke both in proportion). */
		parentPackageId: uuid('parent_package_id'),
		/** A package granted by a monthly allocation schedule (a yearly plan): which, and which month. */
		allocationId: uuid('allocation_id'),
		allocationMonth: integer('allocation_month'),
		/** A `free_monthly` package: its UTC month, `YYYY-MM` (one per user and month). */
		freeMonth: text('free_month'),
		createdAt: timestamptz('created_at').notNull().defaultNow()
	},
	(t) => [
		check('credit_package_source_known', oneOf(t.source, packageSources)),
		check(
			'credit_package_daily_limit_positive',
			sql`${t.dailyLimit} is null or ${t.dailyLimit} > 0`
		),
		check(
			'credit_package_allocation_month_positive',
			sql`${t.allocationMonth} is null or ${t.allocationMonth} >= 1`
		),
		check(
			'credit_package_free_month_shape',
			sql`${t.freeMonth} is null or ${t.freeMonth} ~ '^[0-9]{4}-[0-9]{2}$'`
		),
		uniqueIndex('credit_package_allocation_month_key').on(t.allocationId, t.allocationMonth),
		uniqueIndex('credit_package_free_month_key').on(t.userId, t.freeMonth),
		uniqueIndex('credit_package_bonus_parent_key').on(t.parentPackageId),
		index('credit_package_subscription_idx')
			.on(t.polarSubscriptionId)
			.where(sql`${t.polarSubscriptionId} is not null`),
		check('credit_package_initial_positive', sql`${t.initialCredits} > 0`),
		check(
			'credit_package_remaining_in_range',
			sql`${t.remainingCredits} >= 0 and ${t.remainingCredits} <= ${t.initialCredits}`
		),
		check(
			'credit_package_taken_in_range',
			sql`${t.revokedCredits} >= 0 and ${t.expiredCredits} >= 0 and ${t.remainingCredits} + ${t.revokedCredits} + ${t.expiredCredits} <= ${t.initialCredits}`
		),
		uniqueIndex('credit_package_polar_order_id_key').on(t.polarOrderId),
		// Spend order: soonest expiry first, never-expiring last, then oldest.
		index('credit_package_spend_idx').on(t.userId, t.expiresAt, t.createdAt),
		index('credit_package_due_idx')
			.on(t.expiresAt)
			.where(sql`${t.remainingCredits} > 0 and ${t.expiresAt} is not null`)
	]
);

/** The append-only ledger: every change of a package's credits, with the balance it produced. */
export const creditTransaction = pgTable(
	'credit_transaction',
	{
		id: bigserial('id', { mode: 'number' }).primaryKey(),
		userId: text('user_id')
			.notNull()
			.references(() => user.id, { onDelete: 'cascade' }),
		packageId: uuid('package_id').references(() => creditPackage.id),
		type: text('type', { enum: transactionTypes }).notNull(),
		/** Signed: positive adds credits, negative takes them. */
		amount: integer('amount').notNull(),
		balanceAfter: integer('balance_after').notNull(),
		description: text('description').notNull(),
		metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
		/** `<operation key>#<n>`: the n-th row written by one idempotent operation. */
		idempotencyKey: text('idempotency_key').notNull(),
		createdAt: timestamptz('created_at').notNull().defaultNow()
	},
	(t) => [
		check('credit_transaction_type_known', oneOf(t.type, transactionTypes)),
		check('credit_transaction_balance_after_non_negative', sql`${t.balanceAfter} >= 0`),
		// Zero only for a reply a membership paid for: metered (tokens in metadata), cost 0.
		check(
			'credit_transaction_amount_non_zero',
			sql`${t.amount} <> 0 or (${t.type} = 'usage' and ${t.packageId} is null)`
		),
		uniqueIndex('credit_transaction_idempotency_key_key').on(t.idempotencyKey),
		// History is read newest first by (created_at, id): date filters and keyset pages are
		// both ranges of these indexes, so a page costs the same at any depth or date.
		index('credit_transaction_user_time_idx').on(t.userId, t.createdAt, t.id),
		index('credit_transaction_user_type_time_idx').on(t.userId, t.type, t.createdAt, t.id),
		index('credit_transaction_type_created_idx').on(t.type, t.createdAt.desc()),
		// The admin explorer reads every user's rows newest first: one backward range of this
		// index per page, and the live (not yet rolled up) part of its totals.
		index('credit_transaction_time_idx').on(t.createdAt, t.id),
		// Its model filter: a date window of one model is one range, whatever the other models do.
		index('credit_transaction_model_time_idx').on(
			sql`(${t.metadata}->>'model')`,
			t.createdAt,
			t.id
		),
		// A package's rows; with the time, also what a daily-limited package gave today.
		index('credit_transaction_package_idx').on(t.packageId, t.createdAt)
	]
);

/** Credits set aside for a reply in progress; resolved exactly once. */
export const creditHold = pgTable(
	'credit_hold',
	{
		id: uuid('id').primaryKey().defaultRandom(),
		userId: text('user_id')
			.notNull()
			.references(() => user.id, { onDelete: 'cascade' }),
		/** Credits set aside; 0 when a membership's allowance covers the whole worst case. */
		amount: integer('amount').notNull(),
		/**
		 * Tokens of the membership's daily fair-use allowance set aside for this reply (0 for a
		 * reply paid in credits); tokens beyond them are charged in credits from `amount`.
		 */
		membershipTokens: integer('membership_tokens').notNull().default(0),
		status: text('status', { enum: holdStatuses }).notNull().default('pending'),
		/** What the hold is known to owe so far; the sweeper charges this if the process died. */
		owedCredits: integer('owed_credits').notNull().default(0),
		/** Credits actually charged when it was settled. */
		chargedCredits: integer('charged_credits'),
		chatId: text('chat_id'),
		description: text('description').notNull(),
		metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
		idempotencyKey: text('idempotency_key').notNull(),
		expiresAt: timestamptz('expires_at').notNull(),
		createdAt: timestamptz('created_at').notNull().defaultNow(),
		resolvedAt: timestamptz('resolved_at')
	},
	(t) => [
		check('credit_hold_status_known', oneOf(t.status, holdStatuses)),
		check(
			'credit_hold_amount_positive',
			sql`${t.amount} >= 0 and ${t.membershipTokens} >= 0 and (${t.amount} > 0 or ${t.membershipTokens} > 0)`
		),
		check('credit_hold_owed_non_negative', sql`${t.owedCredits} >= 0`),
		uniqueIndex('credit_hold_idempotency_key_key').on(t.idempotencyKey),
		index('credit_hold_user_pending_idx')
			.on(t.userId)
			.where(sql`${t.status} = 'pending'`),
		index('credit_hold_stale_idx')
			.on(t.expiresAt)
			.where(sql`${t.status} = 'pending'`)
	]
);

/**
 * A yearly plan allocated monthly: one paid order, `months` packages of `credits` each, the
 * first at once and then one a month (granted by the allocation job, idempotent by month).
 * A refund sets `stopped_at`: no further months.
 */
export const creditAllocation = pgTable(
	'credit_allocation',
	{
		id: uuid('id').primaryKey().defaultRandom(),
		userId: text('user_id')
			.notNull()
			.references(() => user.id, { onDelete: 'cascade' }),
		name: text('name').notNull(),
		credits: integer('credits').notNull(),
		/** Bonus credits granted with each month's package, 0 for none. */
		bonusCredits: integer('bonus_credits').notNull().default(0),
		dailyLimit: integer('daily_limit'),
		months: integer('months').notNull(),
		/** Months granted so far (the package of month n has allocation_month = n). */
		monthsGranted: integer('months_granted').notNull().default(0),
		/** Month 1 starts here; month n at starts_at + (n - 1) calendar months. */
		startsAt: timestamptz('starts_at').notNull(),
		/** When the next month is due; NULL once all months are granted or it was stopped. */
		nextAt: timestamptz('next_at'),
		stoppedAt: timestamptz('stopped_at'),
		polarOrderId: text('polar_order_id').notNull(),
		polarProductId: text('polar_product_id'),
		polarSubscriptionId: text('polar_subscription_id'),
		createdAt: timestamptz('created_at').notNull().defaultNow()
	},
	(t) => [
		check('credit_allocation_credits_positive', sql`${t.credits} > 0 and ${t.bonusCredits} >= 0`),
		check(
			'credit_allocation_months_in_range',
			sql`${t.months} >= 1 and ${t.monthsGranted} >= 0 and ${t.monthsGranted} <= ${t.months}`
		),
		uniqueIndex('credit_allocation_polar_order_id_key').on(t.polarOrderId),
		index('credit_allocation_due_idx')
			.on(t.nextAt)
			.where(sql`${t.nextAt} is not null and ${t.stoppedAt} is null`),
		index('credit_allocation_user_idx').on(t.userId)
	]
);

/**
 * A user's low-balance alert: when available credits fall below `threshold` (crossing it
 * downward), one in-app notice and one email; `armed` is set again once credits are back at or
 * above the threshold, so each crossing alerts once.
 */
export const creditAlert = pgTable(
	'credit_alert',
	{
		userId: text('user_id')
			.primaryKey()
			.references(() => user.id, { onDelete: 'cascade' }),
		threshold: integer('threshold').notNull(),
		armed: boolean('armed').notNull().default(true),
		/** The last crossing: the notice shows until dismissed. */
		firedAt: timestamptz('fired_at'),
		/** Available credits when it fired. */
		firedAvailable: integer('fired_available'),
		dismissedAt: timestamptz('dismissed_at'),
		updatedAt: timestamptz('updated_at').notNull().defaultNow()
	},
	(t) => [check('credit_alert_threshold_positive', sql`${t.threshold} >= 1`)]
);

/**
 * The first result of every idempotent ledger operation, by key: a replay with the same
 * arguments returns it, a replay with different arguments is a conflict.
 */
export const creditOperation = pgTable('credit_operation', {
	key: text('key').primaryKey(),
	userId: text('user_id')
		.notNull()
		.references(() => user.id, { onDelete: 'cascade' }),
	operation: text('operation').notNull(),
	/** Canonical JSON of the arguments. */
	fingerprint: text('fingerprint').notNull(),
	result: jsonb('result').notNull(),
	createdAt: timestamptz('created_at').notNull().defaultNow()
});

/**
 * Credits spent per user, UTC day and model, for the dashboard's usage chart: a cache of the
 * ledger's usage rows, filled on read for days that are over (their rows can no longer change),
 * so the chart reads ~30 rows instead of every reply of the month. Safe to truncate; it refills.
 */
export const creditUsageDaily = pgTable(
	'credit_usage_daily',
	{
		userId: text('user_id')
			.notNull()
			.references(() => user.id, { onDelete: 'cascade' }),
		day: date('day', { mode: 'string' }).notNull(),
		model: text('model').notNull(),
		credits: bigint('credits', { mode: 'number' }).notNull()
	},
	(t) => [primaryKey({ columns: [t.userId, t.day, t.model] })]
);

/** Per user: every day before `through` (within the chart's window) is in credit_usage_daily. */
export const creditUsageRollup = pgTable('credit_usage_rollup', {
	userId: text('user_id')
		.primaryKey()
		.references(() => user.id, { onDelete: 'cascade' }),
	through: date('through', { mode: 'string' }).notNull()
});

export type CreditPackageRow = typeof creditPackage.$inferSelect;
export type CreditTransactionRow = typeof creditTransaction.$inferSelect;
export type CreditHoldRow = typeof creditHold.$inferSelect;
export type CreditAllocationRow = typeof creditAllocation.$inferSelect;
