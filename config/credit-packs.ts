/**
 * The standard credit packs, as code. `npm run polar:seed-products` creates or updates them in
 * the configured Polar organisation (matched by `key`, stored in the product's metadata as
 * `pack_key`), and test mode (no POLAR_ACCESS_TOKEN) offers exactly these packs.
 *
 * Pricing: 1 USD = 200 credits. `validityDays` null = never expires. The bigger packs carry
 * bonus credits (product metadata `bonus_credits`): a second package of kind `bonus`, granted
 * with the purchase, same expiry, and revoked in proportion by refunds. Subscriptions are plans
 * now (config/plans.ts).
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
	/** Extra credits granted with it, shown as "+N bonus"; 0 = none. */
	bonusCredits: number;
	/** Packs are one-time purchases; recurring offers are plans (config/plans.ts). */
	recurringInterval: null;
}

const oneTime = (credits: number, bonusCredits = 0): CreditPack => ({
	key: `pack-${credits}`,
	name: `${credits.toLocaleString('en-US')} credits`,
	description: `${credits.toLocaleString('en-US')} credits for AI chat replies${bonusCredits ? `, plus ${bonusCredits.toLocaleString('en-US')} bonus` : ''}. Never expire.`,
	credits,
	priceAmount: credits / 2, // 200 credits per USD = half a cent each
	currency: 'usd',
	validityDays: null,
	bonusCredits,
	recurringInterval: null
});

export const creditPacks: CreditPack[] = [
	oneTime(200),
	oneTime(1_000),
	oneTime(2_000, 200),
	oneTime(5_000, 750),
	oneTime(8_000, 1_400),
	oneTime(10_000, 2_000)
];
