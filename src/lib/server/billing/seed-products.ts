import type { models } from '@polar-sh/sdk/2026-10';
import type { CreditPack } from '../../../../config/credit-packs';
import type { Polar } from './polar';
import { fixedPrice } from './products';

export interface SeedResult {
	created: string[];
	updated: string[];
	unchanged: string[];
}

/** What a pack's product metadata must say; the webhook reads `credits` and `validity_period`. */
export function metadataOf(pack: CreditPack): Record<string, string | number> {
	const metadata: Record<string, string | number> = { pack_key: pack.key, credits: pack.credits };
	if (pack.validityDays) metadata.validity_period = pack.validityDays;
	return metadata;
}

function isCurrent(product: models.Product, pack: CreditPack): boolean {
	const price = fixedPrice(product);
	const wanted = metadataOf(pack);
	return (
		product.name === pack.name &&
		product.description === pack.description &&
		product.recurring_interval === pack.recurringInterval &&
		price?.price_amount === pack.priceAmount &&
		price.price_currency === pack.currency &&
		Object.keys(product.metadata).length === Object.keys(wanted).length &&
		Object.entries(wanted).every(([key, value]) => String(product.metadata[key]) === String(value))
	);
}

/**
 * Makes the Polar organisation offer exactly `packs`: a product per pack, found again by the
 * `pack_key` in its metadata, created when missing and updated when its name, description, price
 * or metadata differ. Products of other packs are left alone (archive them in Polar by hand), and
 * a changed billing interval is refused, because Polar cannot turn a one-time product into a
 * subscription.
 */
export async function seedProducts(polar: Polar, packs: CreditPack[]): Promise<SeedResult> {
	const existing = new Map<string, models.Product>();
	for await (const product of polar.products.iterList({ is_archived: false, limit: 100 })) {
		const key = product.metadata.pack_key;
		if (typeof key === 'string') existing.set(key, product);
	}
	const result: SeedResult = { created: [], updated: [], unchanged: [] };
	for (const pack of packs) {
		const product = existing.get(pack.key);
		const price = {
			amount_type: 'fixed' as const,
			price_currency: pack.currency,
			price_amount: pack.priceAmount
		};
		if (!product) {
			const common = {
				name: pack.name,
				description: pack.description,
				metadata: metadataOf(pack),
				prices: [price]
			};
			await polar.products.create(
				pack.recurringInterval
					? { ...common, recurring_interval: pack.recurringInterval }
					: { ...common, recurring_interval: null }
			);
			result.created.push(pack.key);
		} else if (isCurrent(product, pack)) {
			result.unchanged.push(pack.key);
		} else {
			if (product.recurring_interval !== pack.recurringInterval) {
				throw new Error(
					`Pack "${pack.key}" changed its billing interval; archive product ${product.id} in Polar and run this again.`
				);
			}
			const current = fixedPrice(product);
			const samePrice =
				current?.price_amount === pack.priceAmount && current.price_currency === pack.currency;
			await polar.products.update(product.id, {
				name: pack.name,
				description: pack.description,
				metadata: metadataOf(pack),
				// Keeping the price id keeps existing checkouts and subscriptions on it.
				prices: samePrice && current ? [{ id: current.id }] : [price]
			});
			result.updated.push(pack.key);
		}
	}
	return result;
}
