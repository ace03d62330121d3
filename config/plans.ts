/**
 * The plans, as code, next to the packs in credit-packs.ts. `npm run polar:seed-products`
 * publishes each as a Polar product (matched by `key`, stored in its metadata as `plan_key`, with
 * the metadata below), and test mode (no POLAR_ACCESS_TOKEN) offers exactly these plans.
 *
 * Pricing as for the packs: 1 USD = 200 credits, with plans cheaper per credit than packs in
 * exchange for the commitment. The free allowance is not a product: FREE_MONTHLY_CREDITS.
 *
 * Product metadata written for a plan (and read back from every order, so a product edited in
 * Polar's dashboard works the same):
 * - `credits`: credits per month (0 for a membership);
 * - `daily_limit`: credits its packages may give per UTC day (absent = no limit);
 * - `allocation_months`: an order is allocated monthly over this many months (12 for a yearly
 *   plan, 1200 for lifetime); absent = one package per paid order;
 * - `membership`: `true` = replies cost 0 while active, within MEMBERSHIP_DAILY_TOKENS a day;
 * - `plan_key`, `plan_rank`: which plan, and its order for upgrades (higher = better).
 */
export interface Plan {
	key: string;
	name: string;
	description: string;
	/** In cents of `currency`, per `interval` (once for `once`). */
	priceAmount: number;
	currency: 'usd';
	/** How it is billed: a subscription by month or year, or one payment. */
	interval: 'month' | 'year' | 'once';
	/** Credits granted each month (a yearly or lifetime plan: allocated monthly); 0 = membership. */
	creditsPerMonth: number;
	/** Credits its packages may give per UTC day; null = no limit. */
	dailyLimit: number | null;
	/**
	 * Days a month's credits stay valid; null = until the next month's package plus the grace
	 * days (a subscription) or never (lifetime).
	 */
	validityDays: number | null;
	/** Replies cost 0 credits while active, up to MEMBERSHIP_DAILY_TOKENS a UTC day. */
	membership: boolean;
	/** Upgrade order: a plan with a higher rank is an upgrade. */
	rank: number;
}

export const plans: Plan[] = [
	{
		key: 'pro-monthly',
		name: 'Pro Monthly',
		description: '2,000 credits every month, up to 400 a day, usable while the plan is active.',
		priceAmount: 900,
		currency: 'usd',
		interval: 'month',
		creditsPerMonth: 2_000,
		dailyLimit: 400,
		validityDays: null,
		membership: false,
		rank: 1
	},
	{
		key: 'pro-yearly',
		name: 'Pro Yearly',
		description:
			'3,000 credits every month for a year (paid yearly, allocated monthly), up to 600 a day.',
		priceAmount: 9_000,
		currency: 'usd',
		interval: 'year',
		creditsPerMonth: 3_000,
		dailyLimit: 600,
		validityDays: null,
		membership: false,
		rank: 2
	},
	{
		key: 'unlimited-monthly',
		name: 'Unlimited',
		description: 'Chat without counting credits while the membership is active (fair use applies).',
		priceAmount: 2_900,
		currency: 'usd',
		interval: 'month',
		creditsPerMonth: 0,
		dailyLimit: null,
		validityDays: null,
		membership: true,
		rank: 3
	},
	{
		key: 'lifetime',
		name: 'Lifetime',
		description: '5,000 credits every month, for good: one payment.',
		priceAmount: 29_900,
		currency: 'usd',
		interval: 'once',
		creditsPerMonth: 5_000,
		dailyLimit: null,
		validityDays: null,
		membership: false,
		rank: 4
	}
];

/** Months an order of this plan is allocated over: 12 for yearly, 1200 for lifetime, else 1. */
export function allocationMonths(plan: Pick<Plan, 'interval'>): number {
	return plan.interval === 'year' ? 12 : plan.interval === 'once' ? 1_200 : 1;
}
