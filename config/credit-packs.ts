/**
 * The standard credit packs, as code. `npm run polar:seed-products` creates or updates them in
 * the configured Polar organisation (matched by `key`, stored in the product's metadata as
 * `pack_key`), and test mode (no POLAR_ACCESS_TOKEN) offers exactly these packs.
 *
 * Pricing: 1 USD = 200 credits. `validityDays` null = never expires; subscriptions without it
 * stay valid until the next cycle plus 7 days grace.
 */
export interface CreditPack {
	key: string;
	name: string;
	description: string;
	credits: number;
	/** In cents of `currency`. */
	priceAmount: number;
	currency: 'usd';
	validityDays: number | null;
	/** Set for a subscription: one package per paid cycle. */
	recurringInterval: 'month' | 'year' | null;
}

const oneTime = (credits: number): CreditPack => ({
	key: `pack-${credits}`,
	name: `${credits.toLocaleString('en-US')} credits`,
	description: `${credits.toLocaleString('en-US')} credits for AI chat replies. Never expire.`,
	credits,
	priceAmount: credits / 2, // 200 credits per USD = half a cent each
	currency: 'usd',
	validityDays: null,
	recurringInterval: null
});

export const creditPacks: CreditPack[] = [
	oneTime(200),
	oneTime(1_000),
	oneTime(2_000),
	oneTime(5_000),
	oneTime(8_000),
	oneTime(10_000),
	{
		key: 'monthly-2000',
		name: 'Monthly 2,000 credits',
		description:
			'2,000 credits every month, each month’s credits valid until the next plus 7 days.',
		credits: 2_000,
		priceAmount: 1_000,
		currency: 'usd',
		validityDays: null,
		recurringInterval: 'month'
	}
];
