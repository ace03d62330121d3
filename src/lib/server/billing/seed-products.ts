import type { models } from '@polar-sh/sdk/2026-10';
import type { CreditPack } from '../../../../config/credit-packs';
import { allocationMonths, type Plan } from '../../../../config/plans';
import type { Polar } from './polar';
import { fixedPrice } from './products';

export interface SeedResult {
	created: string[];
	updated: string[];
	unchanged: string[];
}

type Metadata = Record<string, string | number | boolean>;

/** A pack or a plan as the Polar product it is published as. */
interface Offer {
	key: string;
	/** `pack_key` or `plan_key`: how the product is found again. */
	keyField: 'pack_key' | 'plan_key';
	name: string;
	description: string;
	priceAmount: number;
	currency: 'usd';
	recurringInterval: 'month' | 'year' | null;
	metadata: Metadata;
}

/** What a pack's product metadata must say; the webhook reads `credits`, `validity_period`, `bonus_credits`. */
export function metadataOf(pack: CreditPack): Metadata {
	const metadata: Metadata = { pack_key: pack.key, credits: pack.credits };
	if (pack.validityDays) metadata.validity_period = pack.validityDays;
	if (pack.bonusCredits) metadata.bonus_credits = pack.bonusCredits;
	return metadata;
}

/** What a plan's product metadata must say (the contract is in config/plans.ts). */
export function planMetadataOf(plan: Plan): Metadata {
	const metadata: Metadata = {
		plan_key: plan.key,
		plan_rank: plan.rank,
		credits: plan.creditsPerMonth
	};
	if (plan.validityDays) metadata.validity_period = plan.validityDays;
	if (plan.dailyLimit !== null) metadata.daily_limit = plan.dailyLimit;
	const months = allocationMonths(plan);
	if (months > 1) metadata.allocation_months = months;
	if (plan.membership) metadata.membership = true;
	return metadata;
}

const packOffer = (pack: CreditPack): Offer => ({
	...pack,
	keyField: 'pack_key',
	recurringInterval: null,
	metadata: metadataOf(pack)
});

const planOffer = (plan: Plan): Offer => ({
	key: plan.key,
	keyField: 'plan_key',
	name: plan.name,
	description: plan.description,
	priceAmount: plan.priceAmount,
	currency: plan.currency,
	// A lifetime plan is one payment; its months are allocated from the one order.
	recurringInterval: plan.interval === 'once' ? null : plan.interval,
	metadata: planMetadataOf(plan)
});

function isCurrent(product: models.Product, offer: Offer): boolean {
	const price = fixedPrice(product);
	const wanted = offer.metadata;
	return (
		product.name === offer.name &&
		product.description === offer.description &&
		product.recurring_interval === offer.recurringInterval &&
		price?.price_amount === offer.priceAmount &&
		price.price_currency === offer.currency &&
		Object.keys(product.metadata).length === Object.keys(wanted).length &&
		Object.entries(wanted).every(([key, value]) => String(product.metadata[key]) === String(value))
	);
}

/**
 * Makes the Polar organisation offer exactly `packs` and `plans`: a product for each, found
 * again by the `pack_key` or `plan_key` in its metadata, created when missing and updated when
 * its name, description, price or metadata differ. Monthly and yearly plans are recurring
 * products, packs and the lifetime plan one-time products. Products of other keys are left alone
 * (archive them in Polar by hand), and a changed billing interval is refused, because Polar
 * cannot turn a one-time product into a subscription.
 */
export async function seedProducts(
	polar: Polar,
	packs: CreditPack[],
	plans: Plan[] = []
): Promise<SeedResult> {
	const existing = new Map<string, models.Product>();
	for await (const product of polar.products.iterList({ is_archived: false, limit: 100 })) {
		for (const field of ['pack_key', 'plan_key'] as const) {
			const key = product.metadata[field];
			if (typeof key === 'string') existing.set(`${field}:${key}`, product);
		}
	}
	const result: SeedResult = { created: [], updated: [], unchanged: [] };
	for (const offer of [...packs.map(packOffer), ...plans.map(planOffer)]) {
		const product = existing.get(`${offer.keyField}:${offer.key}`);
		const price = {
			amount_type: 'fixed' as const,
			price_currency: offer.currency,
			price_amount: offer.priceAmount
		};
		if (!product) {
			const common = {
				name: offer.name,
				description: offer.description,
				metadata: offer.metadata,
				prices: [price]
			};
			await polar.products.create(
				offer.recurringInterval
					? { ...common, recurring_interval: offer.recurringInterval }
					: { ...common, recurring_interval: null }
			);
			result.created.push(offer.key);
		} else if (isCurrent(product, offer)) {
			result.unchanged.push(offer.key);
		} else {
			if (product.recurring_interval !== offer.recurringInterval) {
				throw new Error(
					`"${offer.key}" changed its billing interval; archive product ${product.id} in Polar and run this again.`
				);
			}
			const current = fixedPrice(product);
			const samePrice =
				current?.price_amount === offer.priceAmount && current.price_currency === offer.currency;
			await polar.products.update(product.id, {
				name: offer.name,
				description: offer.description,
				metadata: offer.metadata,
				// Keeping the price id keeps existing checkouts and subscriptions on it.
				prices: samePrice && current ? [{ id: current.id }] : [price]
			});
			result.updated.push(offer.key);
		}
	}
	return result;
}
