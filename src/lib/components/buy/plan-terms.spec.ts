import { describe, expect, it } from 'vitest';
import type { CatalogOffer, CurrentPlanView } from '$lib/types';
import { currentPlanOf, planAction, planFeatures, planPrice, renewalLine } from './plan-terms';

const plan = (key: string, rank: number, extra: Partial<CatalogOffer> = {}): CatalogOffer => ({
	productId: `prod_${key}`,
	name: key,
	description: null,
	credits: 2000,
	validityDays: null,
	priceAmount: 900,
	currency: 'usd',
	recurringInterval: 'month',
	kind: 'plan',
	bonusCredits: 0,
	dailyLimit: 400,
	membership: false,
	allocationMonths: 1,
	planKey: key,
	planRank: rank,
	...extra
});

const subscription = (
	productId: string,
	extra: Partial<CurrentPlanView> = {}
): CurrentPlanView => ({
	subscriptionId: 'sub_1',
	productId,
	planKey: null,
	name: 'x',
	status: 'active',
	currentPeriodEnd: '2027-01-01T00:00:00.000Z',
	cancelAtPeriodEnd: false,
	membership: false,
	...extra
});

describe('plan terms', () => {
	const monthly = plan('pro-monthly', 1);
	const yearly = plan('pro-yearly', 2, {
		recurringInterval: 'year',
		credits: 3000,
		dailyLimit: 600,
		allocationMonths: 12
	});
	const unlimited = plan('unlimited', 3, { membership: true, credits: 0, dailyLimit: null });
	const lifetime = plan('lifetime', 4, {
		recurringInterval: null,
		credits: 5000,
		dailyLimit: null
	});
	const offers = [monthly, yearly, unlimited, lifetime];

	it('prices per interval, or as one payment', () => {
		expect(planPrice(monthly)).toEqual({ amount: '$9.00', per: 'a month' });
		expect(planPrice(lifetime).per).toBe('one payment');
	});

	it('lists credits, daily limit, allocation and the fair use of a membership', () => {
		expect(planFeatures(yearly, 200000)).toEqual([
			'3,000 credits a month',
			'Up to 600 credits a day',
			'Paid yearly, allocated monthly'
		]);
		expect(planFeatures(lifetime, 1)).toContain('One payment, credits every month for good');
		expect(planFeatures(lifetime, 1)).toContain('No daily limit');
		expect(planFeatures(unlimited, 200000)[0]).toBe(
			'Unlimited chat, fair use 200,000 tokens a day'
		);
		expect(planFeatures(plan('b', 1, { bonusCredits: 250 }), 1)).toContain('+250 bonus credits');
	});

	it('marks the current plan by product or plan key, with its renewal', () => {
		expect(currentPlanOf(yearly, [subscription('prod_pro-yearly')])).not.toBeNull();
		expect(
			currentPlanOf(yearly, [subscription('other', { planKey: 'pro-yearly' })])
		).not.toBeNull();
		expect(currentPlanOf(monthly, [subscription('prod_pro-yearly')])).toBeNull();
		expect(renewalLine(subscription('p'))).toBe('Renews on 1 Jan 2027');
		expect(renewalLine(subscription('p', { cancelAtPeriodEnd: true }))).toBe('Ends on 1 Jan 2027');
	});

	it('offers upgrade, downgrade or switch from a subscription, else a checkout', () => {
		const onYearly = [subscription('prod_pro-yearly', { planKey: 'pro-yearly' })];
		expect(planAction(yearly, onYearly, offers)).toEqual({ kind: 'current' });
		expect(planAction(unlimited, onYearly, offers)).toMatchObject({ label: 'Upgrade' });
		expect(planAction(monthly, onYearly, offers)).toMatchObject({ label: 'Downgrade' });
		// A one-time plan is bought, not switched to.
		expect(planAction(lifetime, onYearly, offers)).toEqual({ kind: 'checkout' });
		// A plan without a rank to compare: a switch.
		const unranked = [subscription('prod_other', { planKey: 'other' })];
		expect(planAction(monthly, unranked, offers)).toMatchObject({ label: 'Switch to' });
		// A subscription that is not a plan (a subscription pack) cannot be switched: a checkout.
		expect(planAction(monthly, [subscription('prod_legacy')], offers)).toEqual({
			kind: 'checkout'
		});
		expect(planAction(monthly, [], offers)).toEqual({ kind: 'checkout' });
	});
});
