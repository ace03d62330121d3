import { and, eq, gt, isNull, or, sql, inArray } from 'drizzle-orm';
import type { MembershipView } from '../../types';
import type { Executor } from './transaction';
import { billingSubscription, creditHold, creditTransaction } from '../db/schema';
import { startOfUtcDay } from './usage-chart';

/** Polar statuses in which a subscription gives what it sells. */
export const ACTIVE_SUBSCRIPTION_STATUSES = ['active', 'trialing'] as const;

/** A subscription row gives access at `now`: an active status, not ended, period not over. */
export function subscriptionActiveAt(now: Date) {
	return and(
		inArray(billingSubscription.status, [...ACTIVE_SUBSCRIPTION_STATUSES]),
		isNull(billingSubscription.endedAt),
		or(isNull(billingSubscription.currentPeriodEnd), gt(billingSubscription.currentPeriodEnd, now))
	);
}

/**
 * Metadata key on a membership's usage row (type `usage`, amount 0, no package): the tokens the
 * membership paid for. Today's sum of it, plus the tokens pending holds set aside, is what the
 * fair-use cap is measured against.
 */
export const MEMBERSHIP_TOKENS_KEY = 'membershipTokens';

/**
 * The user's active membership at `now`, with today's fair-use figures, or null. `tokenCap` is
 * MEMBERSHIP_DAILY_TOKENS. Tokens set aside by pending holds count as used, so concurrent replies
 * cannot pass the cap together.
 */
export async function membershipOf(
	db: Executor,
	userId: string,
	tokenCap: number,
	now = new Date()
): Promise<MembershipView | null> {
	const membership = await activeMembership(db, userId, now);
	if (!membership) return null;
	const tokensToday = await membershipTokensToday(db, userId, now);
	return {
		name: membership.name,
		endsAt: membership.endsAt?.toISOString() ?? null,
		renews: !membership.cancelAtPeriodEnd,
		tokensToday,
		tokenCap,
		overCap: tokensToday >= tokenCap
	};
}

/** The user's membership subscription active at `now` (the latest-ending one), or undefined. */
export async function activeMembership(db: Executor, userId: string, now: Date) {
	const [membership] = await db
		.select({
			name: billingSubscription.productName,
			endsAt: billingSubscription.currentPeriodEnd,
			cancelAtPeriodEnd: billingSubscription.cancelAtPeriodEnd
		})
		.from(billingSubscription)
		.where(
			and(
				eq(billingSubscription.userId, userId),
				eq(billingSubscription.membership, true),
				subscriptionActiveAt(now)
			)
		)
		.orderBy(sql`${billingSubscription.currentPeriodEnd} desc nulls first`)
		.limit(1);
	return membership;
}

/** Tokens the membership paid for today (UTC), plus those pending holds set aside. */
export async function membershipTokensToday(
	db: Executor,
	userId: string,
	now: Date
): Promise<number> {
	const [used, held] = await Promise.all([
		db
			.select({
				total:
					sql<number>`coalesce(sum((${creditTransaction.metadata}->>${MEMBERSHIP_TOKENS_KEY})::bigint), 0)`.mapWith(
						Number
					)
			})
			.from(creditTransaction)
			.where(
				and(
					eq(creditTransaction.userId, userId),
					eq(creditTransaction.type, 'usage'),
					isNull(creditTransaction.packageId),
					sql`${creditTransaction.createdAt} >= ${startOfUtcDay(now).toISOString()}`
				)
			),
		db
			.select({
				total: sql<number>`coalesce(sum(${creditHold.membershipTokens}), 0)`.mapWith(Number)
			})
			.from(creditHold)
			.where(and(eq(creditHold.userId, userId), eq(creditHold.status, 'pending')))
	]);
	return (used[0]?.total ?? 0) + (held[0]?.total ?? 0);
}
