import { formatDate, formatMoney, formatNumber } from '$lib/format';
import type { CatalogOffer, CurrentPlanView } from '$lib/types';

/** "$9.00" and "a month" / "a year" / "one payment": how a plan is billed. */
export function planPrice(offer: CatalogOffer): { amount: string; per: string } {
	const amount = formatMoney(offer.priceAmount, offer.currency);
	if (!offer.recurringInterval) return { amount, per: 'one payment' };
	return { amount, per: `a ${offer.recurringInterval}` };
}

/** What a plan gives, one line each, as the shop lists them. */
export function planFeatures(offer: CatalogOffer, membershipDailyTokens: number): string[] {
	if (offer.membership) {
		return [
			`Unlimited chat, fair use ${formatNumber(membershipDailyTokens)} tokens a day`,
			'Past the fair use, replies are charged in credits until midnight UTC'
		];
	}
	const features = [`${formatNumber(offer.credits)} credits a month`];
	features.push(
		offer.dailyLimit ? `Up to ${formatNumber(offer.dailyLimit)} credits a day` : 'No daily limit'
	);
	if (offer.bonusCredits > 0) features.push(`+${formatNumber(offer.bonusCredits)} bonus credits`);
	if (offer.recurringInterval === 'year') features.push('Paid yearly, allocated monthly');
	else if (!offer.recurringInterval) features.push('One payment, credits every month for good');
	else features.push('Usable while the plan is active');
	return features;
}

/** The subscription this offer is, when the user has it. */
export function currentPlanOf(
	offer: CatalogOffer,
	current: CurrentPlanView[]
): CurrentPlanView | null {
	return (
		current.find(
			(plan) =>
				plan.productId === offer.productId ||
				(plan.planKey !== null && plan.planKey === offer.planKey)
		) ?? null
	);
}

/** "Renews on 1 Jan 2027" / "Ends on 1 Jan 2027" for the plan the user has. */
export function renewalLine(plan: CurrentPlanView): string | null {
	if (!plan.currentPeriodEnd) return null;
	return `${plan.cancelAtPeriodEnd ? 'Ends' : 'Renews'} on ${formatDate(plan.currentPeriodEnd)}`;
}

export type PlanAction =
	| { kind: 'current' }
	/** Change the user's subscription to this plan (the `changePlan` action). */
	| {
			kind: 'change';
			label: 'Upgrade' | 'Downgrade' | 'Switch to';
			direction: 'up' | 'down' | 'side';
	  }
	/** A normal checkout (`buy`): no subscription to change, or a one-time plan. */
	| { kind: 'checkout' };

/**
 * What the button of a plan does: nothing on the current plan; with a subscription, another
 * subscription plan is an upgrade (higher rank), a downgrade (lower) or a switch (no rank to
 * compare); everything else is a checkout.
 */
export function planAction(
	offer: CatalogOffer,
	current: CurrentPlanView[],
	offers: CatalogOffer[]
): PlanAction {
	if (currentPlanOf(offer, current)) return { kind: 'current' };
	// Only a plan subscription can move to another plan (a legacy subscription pack cannot).
	const subscription = current.find((plan) => plan.planKey !== null);
	if (!subscription || !offer.recurringInterval) return { kind: 'checkout' };
	const from = offers.find((o) => currentPlanOf(o, [subscription]))?.planRank ?? null;
	const to = offer.planRank;
	if (from === null || to === null || from === to) {
		return { kind: 'change', label: 'Switch to', direction: 'side' };
	}
	return to > from
		? { kind: 'change', label: 'Upgrade', direction: 'up' }
		: { kind: 'change', label: 'Downgrade', direction: 'down' };
}
