import { sql } from 'drizzle-orm';
import {
	bigserial,
	boolean,
	check,
	index,
	jsonb,
	pgTable,
	primaryKey,
	text,
	timestamp,
	uniqueIndex
} from 'drizzle-orm/pg-core';

import { user } from './auth';

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/**
 * `received`: claimed and being processed (only ever visible inside its own transaction);
 * `processed`: it changed the ledger; `ignored`: nothing to do (a duplicate order, an event we
 * do not act on); `failed`: it could not be applied (unknown user, product without credits).
 */
export const deliveryOutcomes = ['received', 'processed', 'ignored', 'failed'] as const;

/**
 * Every Polar webhook delivery whose signature checked out, once per `webhook-id`. The unique
 * key is what makes a redelivery (or 20 concurrent copies) a no-op.
 */
export const polarWebhookDelivery = pgTable(
	'polar_webhook_delivery',
	{
		id: bigserial('id', { mode: 'number' }).primaryKey(),
		/** The `webhook-id` header: the same for every retry of one event. */
		webhookId: text('webhook_id').notNull(),
		type: text('type').notNull(),
		payload: jsonb('payload').$type<unknown>().notNull(),
		outcome: text('outcome', { enum: deliveryOutcomes }).notNull(),
		/** Why it failed or was ignored, in words an admin can act on. */
		error: text('error'),
		/** What it did to the ledger: package id, credits granted or revoked. */
		result: jsonb('result').$type<Record<string, unknown>>().notNull().default({}),
		/** The buyer (`customer.external_id`) and the order, when the event carries them. */
		userId: text('user_id'),
		orderId: text('order_id'),
		receivedAt: timestamptz('received_at').notNull().defaultNow(),
		processedAt: timestamptz('processed_at')
	},
	(t) => [
		check(
			'polar_webhook_delivery_outcome_known',
			sql`${t.outcome} in ('received', 'processed', 'ignored', 'failed')`
		),
		uniqueIndex('polar_webhook_delivery_webhook_id_key').on(t.webhookId),
		index('polar_webhook_delivery_order_idx').on(t.orderId)
	]
);

export type PolarWebhookDeliveryRow = typeof polarWebhookDelivery.$inferSelect;

/**
 * The newest Polar checkout per user and product. A second "Buy" of the same pack within a
 * minute reuses it instead of creating another (30 parallel clicks make one checkout). `url` is
 * null while the request that claimed the row is still waiting for Polar.
 */
export const polarCheckout = pgTable(
	'polar_checkout',
	{
		userId: text('user_id').notNull(),
		productId: text('product_id').notNull(),
		url: text('url'),
		createdAt: timestamptz('created_at').notNull().defaultNow()
	},
	(t) => [primaryKey({ columns: [t.userId, t.productId] })]
);

/**
 * Every Polar subscription of a user as its last `subscription.*` webhook described it: which
 * plan is current (the shop marks it), whether a plan pool may be spent (its packages freeze
 * while the subscription is not active), and a membership's reach (`membership`, until
 * `current_period_end`). Written only from webhooks (and the reconciliation job), newest event wins.
 */
export const billingSubscription = pgTable(
	'billing_subscription',
	{
		/** Polar's subscription id. */
		id: text('id').primaryKey(),
		userId: text('user_id')
			.notNull()
			.references(() => user.id, { onDelete: 'cascade' }),
		polarProductId: text('polar_product_id').notNull(),
		productName: text('product_name').notNull(),
		/** The plan's `key` in config/plans.ts (product metadata `plan_key`), when it is one. */
		planKey: text('plan_key'),
		recurringInterval: text('recurring_interval'),
		/** Product metadata `membership: true`: replies cost 0 (with a fair-use cap) while active. */
		membership: boolean('membership').notNull().default(false),
		/** Polar's status: incomplete, trialing, active, past_due, canceled, unpaid, … */
		status: text('status').notNull(),
		currentPeriodStart: timestamptz('current_period_start'),
		currentPeriodEnd: timestamptz('current_period_end'),
		cancelAtPeriodEnd: boolean('cancel_at_period_end').notNull().default(false),
		endedAt: timestamptz('ended_at'),
		/** The `modified_at` (or `created_at`) of the event that wrote this row: older events lose. */
		eventAt: timestamptz('event_at').notNull(),
		createdAt: timestamptz('created_at').notNull().defaultNow(),
		updatedAt: timestamptz('updated_at').notNull().defaultNow()
	},
	(t) => [index('billing_subscription_user_idx').on(t.userId)]
);
