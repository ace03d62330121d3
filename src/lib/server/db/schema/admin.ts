import { sql } from 'drizzle-orm';
import {
	bigserial,
	check,
	index,
	integer,
	jsonb,
	pgTable,
	text,
	timestamp
} from 'drizzle-orm/pg-core';

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/**
 * What an admin can do; every one of them leaves an audit row. `account.delete` is the one
 * action a user takes on themselves, logged here because it forfeits credits.
 */
export const auditActions = [
	'credits.add',
	'credits.subtract',
	'credits.set',
	'package.revoke',
	'user.ban',
	'user.unban',
	'webhook.reprocess',
	'polar.reconcile',
	'account.delete'
] as const;

export type AuditAction = (typeof auditActions)[number];

/**
 * Append-only log of admin actions: who, what, on whom, why, and the balance before and after
 * when credits moved. Ledger changes write their audit row in the same transaction, so nothing an
 * admin does to credits goes unaudited. Actor and target are plain ids (no foreign key): the log
 * outlives deleted accounts.
 */
export const adminAudit = pgTable(
	'admin_audit',
	{
		id: bigserial('id', { mode: 'number' }).primaryKey(),
		actorId: text('actor_id').notNull(),
		/** The admin's email at the time (or `cli`), so the log reads without joins. */
		actorEmail: text('actor_email').notNull(),
		action: text('action', { enum: auditActions }).notNull(),
		targetUserId: text('target_user_id'),
		reason: text('reason').notNull(),
		balanceBefore: integer('balance_before'),
		balanceAfter: integer('balance_after'),
		/** The request and its result: amounts, package id, ledger row ids, delivery id… */
		details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
		createdAt: timestamptz('created_at').notNull().defaultNow()
	},
	(t) => [
		check(
			'admin_audit_action_known',
			sql.raw(`action in (${auditActions.map((a) => `'${a}'`).join(', ')})`)
		),
		index('admin_audit_created_idx').on(t.createdAt, t.id),
		index('admin_audit_actor_idx').on(t.actorId, t.id),
		index('admin_audit_target_idx').on(t.targetUserId, t.id)
	]
);

export type AdminAuditRow = typeof adminAudit.$inferSelect;

/**
 * The last full ledger replays (`verify`), for the admin overview. A replay reads every package
 * and ledger row, too much for each page view: it runs on demand (the overview's button or
 * `npm run credits -- verify`, e.g. from cron) and the overview shows the newest row.
 */
export const ledgerCheck = pgTable(
	'ledger_check',
	{
		id: bigserial('id', { mode: 'number' }).primaryKey(),
		users: integer('users').notNull(),
		packages: integer('packages').notNull(),
		transactions: integer('transactions').notNull(),
		driftCount: integer('drift_count').notNull(),
		/** The first drifts found (at most 20), enough to start looking. */
		drifts: jsonb('drifts').$type<unknown[]>().notNull().default([]),
		durationMs: integer('duration_ms').notNull(),
		/** Who asked: an admin's email or `cli`. */
		ranBy: text('ran_by').notNull(),
		ranAt: timestamptz('ran_at').notNull().defaultNow()
	},
	(t) => [index('ledger_check_ran_at_idx').on(t.ranAt)]
);

export type LedgerCheckRow = typeof ledgerCheck.$inferSelect;
