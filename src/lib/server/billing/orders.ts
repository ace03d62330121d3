import type { models } from '@polar-sh/sdk/2026-10';
import { and, desc, eq, ne, sql } from 'drizzle-orm';
import { z } from 'zod';
import { expiryAfterDays, grant, LedgerError, pgErrorCode, revokeFromPackage } from '../credits';
import type { Db } from '../db/client';
import { billingSubscription, creditPackage, creditTransaction } from '../db/schema';
import { grantAllocatedOrder, stopAllocation } from './allocations';
import { creditsOfProduct } from './products';
import { frozenAtFor, planByKey } from './subscriptions';

/** A Polar order as the 2026-10 API and its webhooks send it (snake_case). */
export type PolarOrder = models.Order;

export type GrantOrderOutcome =
	| { outcome: 'granted'; packageId: string; credits: number; expiresAt: Date | null }
	/** The order already has its package (another delivery, the reconciliation job). */
	| { outcome: 'duplicate'; packageId: string | null }
	/** An order that grants no credits by design (metered usage charges). */
	| { outcome: 'ignored'; reason: string }
	/** It should have granted credits but cannot: the reason says what to fix. */
	| { outcome: 'failed'; reason: string };

export type RefundOrderOutcome =
	| {
			outcome: 'revoked';
			packageId: string;
			/** Credits taken back by this call (0 when an earlier refund event already did). */
			revoked: number;
			/** What the order's refunds add up to, in credits, over its packages (bonus, months). */
			totalRevoked: number;
			/** Credits this call should have taken but had been spent already. */
			shortfall: number;
	  }
	| { outcome: 'failed'; reason: string };

/** Subscription packages without `validity_period` last until the next cycle plus this. */
export const SUBSCRIPTION_GRACE_DAYS = 7;

// Only the fields this module reads: the webhook payload is not checked by the SDK, so they are.
const metadataSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));
const intervalSchema = z.enum(['day', 'week', 'month', 'year']);
const orderSchema = z.object({
	id: z.string().min(1),
	created_at: z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'not a date'),
	paid: z.boolean(),
	status: z.string(),
	billing_reason: z.string(),
	total_amount: z.number().int().nonnegative(),
	refunded_amount: z.number().int().nonnegative(),
	refunded_tax_amount: z.number().int().nonnegative(),
	subscription_id: z.string().nullable(),
	customer: z.object({ id: z.string(), external_id: z.string().nullish() }),
	product: z
		.object({
			id: z.string().min(1),
			name: z.string(),
			metadata: metadataSchema,
			recurring_interval: intervalSchema.nullish(),
			recurring_interval_count: z.number().int().positive().nullish()
		})
		.nullable(),
	subscription: z
		.object({
			id: z.string(),
			current_period_start: z
				.string()
				.refine((v) => !Number.isNaN(Date.parse(v)), 'not a date')
				.nullish(),
			current_period_end: z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'not a date')
		})
		.nullish()
});
type CheckedOrder = z.infer<typeof orderSchema>;

const SUBSCRIPTION_REASONS = ['subscription_create', 'subscription_cycle', 'subscription_update'];

/**
 * Grants the credit package of one paid Polar order, at most once per order id whatever the
 * caller (webhook delivery, redelivery under another id, reconciliation job). Credits and
 * validity come from the product's metadata; the owner is `customer.external_id` (our user id,
 * set at checkout). Pass a transaction to make the grant part of a larger one.
 */
export async function grantOrder(
	db: Db,
	order: PolarOrder,
	now: Date = new Date()
): Promise<GrantOrderOutcome> {
	const checked = checkOrder(order);
	if (!checked.ok) return { outcome: 'failed', reason: checked.reason };
	const o = checked.order;
	if (!o.paid) return { outcome: 'failed', reason: `Order ${o.id} is not paid (${o.status}).` };
	if (o.billing_reason === 'subscription_meter_cycle') {
		return { outcome: 'ignored', reason: 'A metered-usage charge grants no credits.' };
	}
	const source = SUBSCRIPTION_REASONS.includes(o.billing_reason)
		? 'subscription'
		: o.billing_reason === 'purchase'
			? 'purchase'
			: null;
	if (!source) {
		return { outcome: 'failed', reason: `Unknown billing_reason "${o.billing_reason}".` };
	}
	const userId = o.customer.external_id;
	if (!userId) {
		return {
			outcome: 'failed',
			reason: `Customer ${o.customer.id} has no external_id: the order was not placed through this app.`
		};
	}
	if (!o.product) return { outcome: 'failed', reason: `Order ${o.id} has no product.` };
	const product = creditsOfProduct(o.product.metadata);
	if (!product.ok) {
		return { outcome: 'failed', reason: `Product ${o.product.id}: ${product.reason}` };
	}

	if (product.credits === 0) {
		return {
			outcome: 'ignored',
			reason: 'A membership grants no credits: its subscription events give access.'
		};
	}

	const existing = await packageOfOrder(db, o.id);
	if (existing) return { outcome: 'duplicate', packageId: existing.id };

	const subscriptionId = o.subscription_id ?? o.subscription?.id ?? undefined;
	const name = o.product.name.trim() || 'Credits';
	const metadata = {
		orderId: o.id,
		productId: o.product.id,
		subscriptionId: subscriptionId ?? null,
		billingReason: o.billing_reason,
		// What the next subscription_update order compares against (see planChange).
		planKey: product.planKey,
		planRank: product.planRank,
		creditsPerMonth: product.credits
	};
	const description =
		source === 'subscription' ? `Subscription: ${o.product.name}` : `Purchase: ${o.product.name}`;
	const bonus = product.bonusCredits
		? {
				credits: product.bonusCredits,
				name: `${name} bonus`,
				description: `Bonus: +${product.bonusCredits} with ${o.product.name}`
			}
		: undefined;

	try {
		if (product.allocationMonths > 1) {
			// A yearly (or lifetime) plan: month 1 now, the others by the allocation job.
			const periodStart = o.subscription?.current_period_start;
			const startsAt = new Date(Math.min(now.getTime(), Date.parse(periodStart ?? o.created_at)));
			const allocated = await grantAllocatedOrder(db, {
				userId,
				orderId: o.id,
				productId: o.product.id,
				subscriptionId: subscriptionId ?? null,
				source,
				name,
				credits: product.credits,
				bonusCredits: product.bonusCredits,
				dailyLimit: product.dailyLimit,
				months: product.allocationMonths,
				startsAt,
				description,
				metadata: { ...metadata, month: 1 },
				now
			});
			if (allocated.outcome === 'duplicate') return allocated;
			if (!allocated.packageId) {
				return { outcome: 'ignored', reason: 'Month 1 of this allocation is already over.' };
			}
			return {
				outcome: 'granted',
				packageId: allocated.packageId,
				credits: product.credits,
				expiresAt: allocated.expiresAt
			};
		}

		const expiresAt = packageExpiry({
			source,
			validityDays: product.validityDays,
			periodEnd: o.subscription ? new Date(o.subscription.current_period_end) : null,
			interval: o.product.recurring_interval ?? null,
			intervalCount: o.product.recurring_interval_count ?? 1,
			now
		});
		let credits = product.credits;
		let packageName = name;
		if (o.billing_reason === 'subscription_update') {
			// A plan change: see planChange for the policy.
			const change = await planChange(db, userId, subscriptionId, o.id, {
				...product,
				productId: o.product.id
			});
			if (change.kind !== 'upgrade') return { outcome: 'ignored', reason: change.reason };
			credits = proratedCredits(change.difference, o.subscription, now);
			if (credits < 1) {
				return { outcome: 'ignored', reason: 'The upgrade came at the very end of the period.' };
			}
			packageName = `${name} (upgrade)`;
		}
		const granted = await grant(db, {
			userId,
			source,
			name: packageName,
			credits,
			expiresAt,
			key: `polar-order:${o.id}`,
			description,
			metadata,
			polar: { orderId: o.id, productId: o.product.id, subscriptionId },
			dailyLimit: product.dailyLimit,
			bonus: o.billing_reason === 'subscription_update' ? undefined : bonus,
			now
		});
		if (granted.replayed) return { outcome: 'duplicate', packageId: granted.packageId };
		await freezeIfInactive(db, subscriptionId, [granted.packageId, granted.bonus?.packageId], now);
		return { outcome: 'granted', packageId: granted.packageId, credits, expiresAt };
	} catch (error) {
		// Another grant of this order won the race (same user: the idempotency key; in any case
		// the unique polar_order_id). Either way the order has exactly one package.
		if (
			(error instanceof LedgerError && error.code === 'idempotency_conflict') ||
			pgErrorCode(error) === '23505'
		) {
			return { outcome: 'duplicate', packageId: (await packageOfOrder(db, o.id))?.id ?? null };
		}
		if (error instanceof LedgerError && error.code === 'user_not_found') {
			return { outcome: 'failed', reason: `Unknown user "${userId}" (customer.external_id).` };
		}
		if (error instanceof LedgerError) return { outcome: 'failed', reason: error.message };
		throw error;
	}
}

/**
 * The upgrade and downgrade policy (also in the README). A `subscription_update` order moves a
 * subscription to another plan. Its plan is compared with the subscription's previous plan: by
 * `plan_rank` when both have one, else by credits per month.
 * - Upgrade: the difference in credits per month (new − previous) for what is left of the
 *   current period is granted at once: `floor(difference × time left / period length)`, as Polar
 *   charges the prorated price difference (a full month's difference for a day's charge would let
 *   an upgrade on the last day of every period buy credits at a fraction of their price). It
 *   expires with the period plus the grace days and carries the new plan's daily limit. Nothing
 *   is granted when the new plan has no more credits (e.g. a membership).
 * - Downgrade or same rank: nothing now; the next `subscription_cycle` order grants the new
 *   plan's credits as usual. What the user has keeps its expiry.
 * The previous plan is read from the subscription's newest credit grant (its ledger metadata),
 * so it is right whatever order `subscription.updated` and the order arrive in; without one, from
 * the `billing_subscription` row when it still names another product.
 */
export async function planChange(
	db: Db,
	userId: string,
	subscriptionId: string | undefined,
	orderId: string,
	next: { productId: string; credits: number; planRank: number | null }
): Promise<
	{ kind: 'upgrade'; difference: number } | { kind: 'downgrade' | 'same'; reason: string }
> {
	const previous = subscriptionId
		? await previousPlan(db, userId, subscriptionId, orderId, next.productId)
		: null;
	const rankOrder =
		previous?.planRank != null && next.planRank !== null
			? Math.sign(next.planRank - previous.planRank)
			: Math.sign(next.credits - (previous?.creditsPerMonth ?? 0));
	const difference = next.credits - (previous?.creditsPerMonth ?? 0);
	if (rankOrder > 0 && difference > 0) return { kind: 'upgrade', difference };
	if (rankOrder < 0) {
		return {
			kind: 'downgrade',
			reason: 'A downgrade takes effect at the next cycle: its order grants the new plan’s credits.'
		};
	}
	return {
		kind: 'same',
		reason: 'This plan change adds no credits per month: nothing to grant before the next cycle.'
	};
}

async function previousPlan(
	db: Db,
	userId: string,
	subscriptionId: string,
	orderId: string,
	nextProductId: string
) {
	const [row] = await db
		.select({ amount: creditTransaction.amount, metadata: creditTransaction.metadata })
		.from(creditTransaction)
		.where(
			and(
				eq(creditTransaction.userId, userId),
				eq(creditTransaction.type, 'subscription'),
				sql`${creditTransaction.amount} > 0`,
				sql`${creditTransaction.metadata}->>'subscriptionId' = ${subscriptionId}`,
				sql`coalesce(${creditTransaction.metadata}->>'orderId', '') <> ${orderId}`
			)
		)
		.orderBy(desc(creditTransaction.createdAt), desc(creditTransaction.id))
		.limit(1);
	if (row) {
		const m = row.metadata;
		return {
			planRank: typeof m.planRank === 'number' ? m.planRank : null,
			creditsPerMonth: typeof m.creditsPerMonth === 'number' ? m.creditsPerMonth : row.amount
		};
	}
	const [subscription] = await db
		.select({ planKey: billingSubscription.planKey })
		.from(billingSubscription)
		.where(
			and(
				eq(billingSubscription.id, subscriptionId),
				ne(billingSubscription.polarProductId, nextProductId)
			)
		);
	const plan = planByKey(subscription?.planKey);
	return plan ? { planRank: plan.rank, creditsPerMonth: plan.creditsPerMonth } : null;
}

/**
 * `credits` scaled to the part of the subscription's current period still ahead at `now`
 * (rounded down); all of them when the order does not say the period.
 */
export function proratedCredits(
	credits: number,
	subscription:
		{ current_period_start?: string | null; current_period_end: string } | null | undefined,
	now: Date
): number {
	const start = subscription?.current_period_start
		? Date.parse(subscription.current_period_start)
		: NaN;
	const end = subscription ? Date.parse(subscription.current_period_end) : NaN;
	if (!Number.isFinite(start) || !Number.isFinite(end) || end <= start) return credits;
	const left = Math.min(Math.max(end - now.getTime(), 0), end - start);
	return Number((BigInt(credits) * BigInt(Math.round(left))) / BigInt(end - start));
}

/** A package granted for a subscription already known to be inactive starts frozen. */
async function freezeIfInactive(
	db: Db,
	subscriptionId: string | undefined,
	packageIds: (string | undefined)[],
	now: Date
) {
	const frozenAt = await frozenAtFor(db, subscriptionId, now);
	if (!frozenAt) return;
	for (const id of packageIds) {
		if (id) await db.update(creditPackage).set({ frozenAt }).where(eq(creditPackage.id, id));
	}
}

/**
 * Applies an order's refunds to its packages. The rule, per package: it loses
 * `floor(initial credits × refunded / total)` in all, where refunded counts the refunded amount
 * and its tax (Polar reports them apart; `total_amount` includes tax) and a fully refunded order
 * counts as 100 %. Each event takes only the difference to what earlier ones took, never more
 * than the package still holds (credits already spent are not taken back), and nothing from any
 * other package. Rounding down leaves the user the fraction of a credit.
 * - A pack with bonus credits: the bonus package loses the same share of its own credits.
 * - An order allocated monthly (yearly, lifetime): the allocation stops at once (no further
 *   months), and every month granted so far (and its bonus) loses that share as above.
 * An order whose package was never granted (its `order.paid` was lost or comes later) is
 * granted first, so a late `order.paid` cannot undo the refund.
 */
export async function refundOrder(
	db: Db,
	order: PolarOrder,
	now: Date = new Date()
): Promise<RefundOrderOutcome> {
	const checked = checkOrder(order);
	if (!checked.ok) return { outcome: 'failed', reason: checked.reason };
	const o = checked.order;
	let pkg = await packageOfOrder(db, o.id);
	if (!pkg) {
		const granted = await grantOrder(db, order, now);
		if (granted.outcome === 'failed' || granted.outcome === 'ignored') {
			return {
				outcome: 'failed',
				reason: `Order ${o.id} has no credit package to refund: ${granted.reason}`
			};
		}
		pkg = await packageOfOrder(db, o.id);
	}
	const refunded = refundedAmount(o);
	const key = `polar-refund:${o.id}:${refunded}`;
	// An allocated order's months (month 1 may be missing when it was over before it arrived).
	const allocated = await stopAllocation(db, o.id, now);
	if (!allocated && !pkg) throw new Error(`order ${o.id} was granted but has no package`);
	const months = allocated ?? [{ id: pkg!.id, initialCredits: pkg!.initialCredits, month: null }];
	const outcome = { revoked: 0, totalRevoked: 0, shortfall: 0 };
	for (const month of months) {
		const suffix = month.month && month.month > 1 ? `:month-${month.month}` : '';
		const packages = [{ ...month, key: `${key}${suffix}` }];
		const bonus = await bonusOf(db, month.id);
		if (bonus) packages.push({ ...bonus, month: month.month, key: `${key}${suffix}:bonus` });
		for (const target of packages) {
			const totalRevoked = refundedCredits(target.initialCredits, o);
			const result = await revokeFromPackage(db, {
				packageId: target.id,
				totalRevoked,
				key: target.key,
				reason: o.status === 'refunded' ? 'Order refunded' : 'Order partially refunded',
				metadata: {
					orderId: o.id,
					refundedAmount: o.refunded_amount,
					refundedTaxAmount: o.refunded_tax_amount,
					totalAmount: o.total_amount,
					totalRevoked
				},
				now
			});
			outcome.totalRevoked += totalRevoked;
			if (!result.replayed) {
				outcome.revoked += result.revoked;
				outcome.shortfall += result.shortfall;
			}
		}
	}
	return { outcome: 'revoked', packageId: pkg?.id ?? months[0]?.id ?? '', ...outcome };
}

async function bonusOf(db: Db, packageId: string) {
	const [row] = await db
		.select({ id: creditPackage.id, initialCredits: creditPackage.initialCredits })
		.from(creditPackage)
		.where(eq(creditPackage.parentPackageId, packageId));
	return row ?? null;
}

/**
 * When a package of this order expires (null = never):
 * - `validity_period` given: that many days from the grant (0 = never), for both sources;
 * - one-time purchase without it: never;
 * - subscription cycle without it: the end of the paid period plus the grace days, so a renewal
 *   that arrives a little late never leaves the user without credits. Without a period end in
 *   the order (or one already past), one billing interval (a month unless the product says
 *   otherwise) from now plus the grace days.
 */
export function packageExpiry(options: {
	source: 'purchase' | 'subscription';
	validityDays: number | null;
	periodEnd: Date | null;
	interval: 'day' | 'week' | 'month' | 'year' | null;
	intervalCount: number;
	now: Date;
}): Date | null {
	const { now } = options;
	if (options.validityDays !== null) return expiryAfterDays(options.validityDays, now);
	if (options.source === 'purchase') return null;
	const graceMs = SUBSCRIPTION_GRACE_DAYS * 86_400_000;
	if (options.periodEnd && options.periodEnd.getTime() > now.getTime()) {
		return new Date(options.periodEnd.getTime() + graceMs);
	}
	const next = addInterval(now, options.interval ?? 'month', options.intervalCount);
	return new Date(next.getTime() + graceMs);
}

/** The credits an order's refunds take back in all, rounded down (see `refundOrder`). */
export function refundedCredits(
	credits: number,
	order: Pick<CheckedOrder, 'status' | 'total_amount' | 'refunded_amount' | 'refunded_tax_amount'>
): number {
	if (order.status === 'refunded') return credits;
	if (order.total_amount <= 0) return 0;
	const refunded = BigInt(Math.min(refundedAmount(order), order.total_amount));
	// BigInt: credits × cents can pass 2^53; the division rounds down.
	return Number((BigInt(credits) * refunded) / BigInt(order.total_amount));
}

function refundedAmount(order: Pick<CheckedOrder, 'refunded_amount' | 'refunded_tax_amount'>) {
	return order.refunded_amount + order.refunded_tax_amount;
}

function addInterval(date: Date, interval: 'day' | 'week' | 'month' | 'year', count: number) {
	const next = new Date(date);
	if (interval === 'day') next.setUTCDate(next.getUTCDate() + count);
	else if (interval === 'week') next.setUTCDate(next.getUTCDate() + 7 * count);
	else if (interval === 'month') next.setUTCMonth(next.getUTCMonth() + count);
	else next.setUTCFullYear(next.getUTCFullYear() + count);
	return next;
}

function checkOrder(
	order: unknown
): { ok: true; order: CheckedOrder } | { ok: false; reason: string } {
	const parsed = orderSchema.safeParse(order);
	if (parsed.success) return { ok: true, order: parsed.data };
	const issue = parsed.error.issues[0];
	return {
		ok: false,
		reason: `The order is malformed: ${issue.path.join('.') || 'data'}: ${issue.message}`
	};
}

async function packageOfOrder(db: Db, orderId: string) {
	const [row] = await db
		.select({ id: creditPackage.id, initialCredits: creditPackage.initialCredits })
		.from(creditPackage)
		.where(eq(creditPackage.polarOrderId, orderId));
	return row ?? null;
}
