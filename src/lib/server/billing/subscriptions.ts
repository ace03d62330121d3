import { and, eq, inArray, isNotNull, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import { plans } from '../../../../config/plans';
import { ACTIVE_SUBSCRIPTION_STATUSES } from '../credits/membership';
import { LedgerError } from '../credits/errors';
import { withAccountLock, type Executor } from '../credits/transaction';
import type { Db } from '../db/client';
import { billingSubscription, creditPackage } from '../db/schema';
import type { CurrentPlanView } from '../../types';
import { creditsOfProduct } from './products';

/** The `subscription.*` events that describe a subscription's whole state. */
export const SUBSCRIPTION_EVENTS = [
	'subscription.created',
	'subscription.updated',
	'subscription.active',
	'subscription.canceled',
	'subscription.uncanceled',
	'subscription.revoked'
] as const;

const isoDate = z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'not a date');
// Only the fields read here: webhook payloads are not checked by the SDK, so they are.
const subscriptionSchema = z.object({
	id: z.string().min(1),
	status: z.string().min(1),
	created_at: isoDate,
	modified_at: isoDate.nullish(),
	current_period_start: isoDate.nullish(),
	current_period_end: isoDate.nullish(),
	cancel_at_period_end: z.boolean(),
	ended_at: isoDate.nullish(),
	recurring_interval: z.string().nullish(),
	customer: z.object({ id: z.string(), external_id: z.string().nullish() }),
	product: z.object({
		id: z.string().min(1),
		name: z.string(),
		metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
	})
});

export type SubscriptionOutcome =
	| {
			outcome: 'processed';
			subscriptionId: string;
			status: string;
			/** Packages of this subscription frozen (positive) or thawed (negative) just now. */
			frozen: number;
			thawed: number;
	  }
	/** An event older than the one already stored: the newest event wins. */
	| { outcome: 'ignored'; reason: string }
	| { outcome: 'failed'; reason: string };

/** A subscription in this state gives what it sells (its plan pool may be spent). */
export function isActive(row: { status: string; endedAt: Date | null }): boolean {
	return (
		(ACTIVE_SUBSCRIPTION_STATUSES as readonly string[]).includes(row.status) && row.endedAt === null
	);
}

/**
 * Applies one `subscription.*` event: upserts its `billing_subscription` row (the newest event
 * by `modified_at`, else `created_at`, wins; an older one changes nothing) and, under the user's
 * account lock, freezes the subscription's packages while it is not active (revoked, ended,
 * past due, unpaid) and thaws them when it is active again.
 */
export async function applySubscriptionEvent(
	db: Db,
	payload: unknown,
	now: Date
): Promise<SubscriptionOutcome> {
	const parsed = subscriptionSchema.safeParse(payload);
	if (!parsed.success) {
		const issue = parsed.error.issues[0];
		return {
			outcome: 'failed',
			reason: `The subscription is malformed: ${issue.path.join('.') || 'data'}: ${issue.message}`
		};
	}
	const s = parsed.data;
	const userId = s.customer.external_id;
	if (!userId) {
		return {
			outcome: 'failed',
			reason: `Customer ${s.customer.id} has no external_id: the subscription was not started through this app.`
		};
	}
	const product = creditsOfProduct(s.product.metadata);
	const eventAt = new Date(s.modified_at ?? s.created_at);
	const values = {
		id: s.id,
		userId,
		polarProductId: s.product.id,
		productName: s.product.name.trim() || 'Subscription',
		planKey: product.ok ? product.planKey : null,
		recurringInterval: s.recurring_interval ?? null,
		membership: product.ok && product.membership,
		status: s.status,
		currentPeriodStart: s.current_period_start ? new Date(s.current_period_start) : null,
		currentPeriodEnd: s.current_period_end ? new Date(s.current_period_end) : null,
		cancelAtPeriodEnd: s.cancel_at_period_end,
		endedAt: s.ended_at ? new Date(s.ended_at) : null,
		eventAt,
		updatedAt: now
	};
	try {
		return await withAccountLock(db, userId, async (tx) => {
			const [stored] = await tx
				.insert(billingSubscription)
				.values({ ...values, createdAt: now })
				.onConflictDoUpdate({
					target: billingSubscription.id,
					set: { ...values, id: undefined, userId: undefined },
					// Equal times: the later delivery wins (Polar sends one state per change).
					setWhere: sql`${billingSubscription.eventAt} <= excluded.event_at and ${billingSubscription.userId} = excluded.user_id`
				})
				.returning();
			if (!stored) {
				return {
					outcome: 'ignored',
					reason: 'A newer event of this subscription was applied already.'
				} as const;
			}
			const active = isActive(stored);
			const changed = await tx
				.update(creditPackage)
				.set({ frozenAt: active ? null : now })
				.where(
					and(
						eq(creditPackage.userId, userId),
						eq(creditPackage.polarSubscriptionId, s.id),
						active ? isNotNull(creditPackage.frozenAt) : isNull(creditPackage.frozenAt)
					)
				)
				.returning({ id: creditPackage.id });
			return {
				outcome: 'processed',
				subscriptionId: s.id,
				status: s.status,
				frozen: active ? 0 : changed.length,
				thawed: active ? changed.length : 0
			} as const;
		});
	} catch (error) {
		if (error instanceof LedgerError && error.code === 'user_not_found') {
			return { outcome: 'failed', reason: `Unknown user "${userId}" (customer.external_id).` };
		}
		throw error;
	}
}

/**
 * When a new package of this subscription must be frozen: now, when the subscription is known
 * and not active; otherwise null (no subscription, or not heard of yet: its events will say).
 */
export async function frozenAtFor(
	db: Executor,
	subscriptionId: string | null | undefined,
	now: Date
): Promise<Date | null> {
	if (!subscriptionId) return null;
	const [row] = await db
		.select({ status: billingSubscription.status, endedAt: billingSubscription.endedAt })
		.from(billingSubscription)
		.where(eq(billingSubscription.id, subscriptionId));
	return row && !isActive(row) ? now : null;
}

/** The user's subscriptions that are active now, newest period first, for the shop. */
export async function currentPlansOf(
	db: Executor,
	userId: string,
	now = new Date()
): Promise<CurrentPlanView[]> {
	const rows = await db
		.select()
		.from(billingSubscription)
		.where(
			and(
				eq(billingSubscription.userId, userId),
				inArray(billingSubscription.status, [...ACTIVE_SUBSCRIPTION_STATUSES]),
				isNull(billingSubscription.endedAt),
				sql`(${billingSubscription.currentPeriodEnd} is null or ${billingSubscription.currentPeriodEnd} > ${now.toISOString()})`
			)
		)
		.orderBy(sql`${billingSubscription.currentPeriodEnd} desc nulls first`);
	return rows.map((row) => ({
		subscriptionId: row.id,
		productId: row.polarProductId,
		planKey: row.planKey,
		name: row.productName,
		status: row.status,
		currentPeriodEnd: row.currentPeriodEnd?.toISOString() ?? null,
		cancelAtPeriodEnd: row.cancelAtPeriodEnd,
		membership: row.membership
	}));
}

/** A plan of config/plans.ts by key, for a subscription row that names one. */
export function planByKey(key: string | null | undefined) {
	return key ? (plans.find((plan) => plan.key === key) ?? null) : null;
}
