import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { billingSubscription } from '../db/schema';
import { AppError } from '../errors';
import { hit } from '../security/rate-limit';
import type { BillingContext } from './context';
import { currentPlansOf } from './subscriptions';
import { signedTestPlanChange } from './test-mode';
import { handlePolarWebhook } from './webhook';
import { log } from '../log';

/** Plan changes per account and minute (counted when one is about to be made). */
export const PLAN_CHANGE_LIMIT = { max: 5, windowSeconds: 60 };
export const planChangeBucket = (userId: string) => `plan-change:${userId}`;

/**
 * "Switch to this plan" on the buy page: moves the user's active plan subscription to another
 * plan. With Polar, `subscriptions.update` with `proration_behavior: 'invoice'` (Polar bills the
 * prorated difference at once and sends `subscription.updated` + an `order.paid` with
 * `billing_reason: 'subscription_update'`, which grant the upgrade's credits); in test mode those
 * deliveries are signed and handled here. Refused with a 4xx: payments off, an unknown product,
 * a product that is not a recurring plan, no active plan subscription, the same plan.
 */
export async function changePlan(
	db: Db,
	billing: BillingContext,
	input: { user: { id: string; email: string; name: string }; productId: string; now?: Date }
): Promise<{ subscriptionId: string }> {
	const now = input.now ?? new Date();
	if (billing.mode === 'off') {
		throw new AppError(409, 'payments_off', 'Plan changes are not available on this server.');
	}
	const { items } = await billing.catalog();
	const product = items.find((item) => item.productId === input.productId);
	if (!product) {
		throw new AppError(400, 'unknown_product', 'That plan is not on offer any more.');
	}
	if (product.kind !== 'plan' || product.recurringInterval === null) {
		throw new AppError(
			400,
			'not_a_plan',
			'Only a monthly or yearly plan can replace your subscription; buy packs and one-time plans as usual.'
		);
	}
	const current = (await currentPlansOf(db, input.user.id, now)).filter(
		(plan) => plan.planKey !== null
	);
	if (current.length === 0) {
		throw new AppError(
			409,
			'no_subscription',
			'You have no active plan to change. Subscribe to a plan first.'
		);
	}
	const subscription = current[0];
	if (subscription.productId === product.productId) {
		throw new AppError(409, 'same_plan', 'You are on this plan already.');
	}
	// Each change is a call to Polar (and an invoice): a few a minute per account is plenty.
	const verdict = await hit(db, planChangeBucket(input.user.id), PLAN_CHANGE_LIMIT);
	if (!verdict.allowed) {
		throw new AppError(
			429,
			'rate_limited',
			`Too many plan changes. Try again in ${verdict.retryAfterSeconds} seconds.`
		);
	}
	if (billing.polar) {
		try {
			await billing.polar.subscriptions.update(subscription.subscriptionId, {
				product_id: product.productId,
				proration_behavior: 'invoice'
			});
		} catch (error) {
			log.error({ err: error }, 'Polar refused or missed a plan change');
			throw new AppError(
				502,
				'polar_unavailable',
				'Polar could not change your plan just now. Nothing was changed; please try again in a moment.'
			);
		}
		return { subscriptionId: subscription.subscriptionId };
	}
	const [row] = await db
		.select({
			periodStart: billingSubscription.currentPeriodStart,
			periodEnd: billingSubscription.currentPeriodEnd
		})
		.from(billingSubscription)
		.where(
			and(
				eq(billingSubscription.id, subscription.subscriptionId),
				eq(billingSubscription.userId, input.user.id)
			)
		);
	const deliveries = signedTestPlanChange({
		user: input.user,
		subscription: { id: subscription.subscriptionId, ...row },
		product,
		secret: billing.webhookSecret,
		now
	});
	for (const delivery of deliveries) {
		const result = await handlePolarWebhook(db, delivery, billing.webhookSecret, now);
		if (result.status >= 300) {
			throw new Error(`Test-mode plan change was refused: ${JSON.stringify(result)}`);
		}
	}
	return { subscriptionId: subscription.subscriptionId };
}
