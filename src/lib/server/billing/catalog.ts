import type { models } from '@polar-sh/sdk/2026-10';
import { creditPacks } from '../../../../config/credit-packs';
import { allocationMonths, plans, type Plan } from '../../../../config/plans';
import type { CatalogOffer } from '../../types';
import type { Polar } from './polar';
import { creditsOfProduct, fixedPrice } from './products';
import { log } from '../log';

/** One thing a user can buy, exactly as the buy page shows it. */
export type CatalogItem = CatalogOffer;

export interface Catalog {
	items: CatalogItem[];
	/** Set when Polar could not be reached and these items are the last good copy. */
	staleSince: Date | null;
	/** Set when Polar could not be reached and there is no copy to show. */
	unavailable: boolean;
}

/** What a plain pack of credits has in the plan fields. */
const PACK = {
	kind: 'pack',
	bonusCredits: 0,
	dailyLimit: null,
	membership: false,
	allocationMonths: 1,
	planKey: null,
	planRank: null
} as const satisfies Partial<CatalogItem>;

/**
 * A Polar product as a catalog item: it must grant credits (or be a membership) and have a fixed
 * price. A product with `plan_key` in its metadata is a plan, anything else a pack.
 */
export function catalogItemOf(product: models.Product): CatalogItem | null {
	if (product.is_archived) return null;
	const grant = creditsOfProduct(product.metadata);
	const price = fixedPrice(product);
	if (!grant.ok || !price) return null;
	return {
		productId: product.id,
		name: product.name,
		description: product.description,
		credits: grant.credits,
		// 0 and absent both mean "never expires" (subscriptions: until the next cycle + 7 days).
		validityDays: grant.validityDays || null,
		priceAmount: price.price_amount,
		currency: price.price_currency,
		recurringInterval: product.recurring_interval,
		kind: grant.planKey ? 'plan' : 'pack',
		bonusCredits: grant.bonusCredits,
		dailyLimit: grant.dailyLimit,
		membership: grant.membership,
		allocationMonths: grant.allocationMonths,
		planKey: grant.planKey,
		planRank: grant.planKey ? (grant.planRank ?? 0) : null
	};
}

/** Packs before plans; packs one-time first, smallest first; plans by rank. */
function byOffer(a: CatalogItem, b: CatalogItem): number {
	return (
		Number(a.kind === 'plan') - Number(b.kind === 'plan') ||
		(a.planRank ?? 0) - (b.planRank ?? 0) ||
		Number(a.recurringInterval !== null) - Number(b.recurringInterval !== null) ||
		a.credits - b.credits ||
		a.priceAmount - b.priceAmount
	);
}

/** The products of the Polar organisation that grant credits. */
export async function fetchPolarCatalog(polar: Polar): Promise<CatalogItem[]> {
	const items: CatalogItem[] = [];
	for await (const product of polar.products.iterList({
		is_archived: false,
		visibility: ['public'],
		limit: 100
	})) {
		const item = catalogItemOf(product);
		if (item) items.push(item);
	}
	return items.sort(byOffer);
}

/** Test mode offers the packs from config/credit-packs.ts under stable fake product ids. */
export const TEST_PRODUCT_PREFIX = 'test_';

export function testModeCatalog(): CatalogItem[] {
	const packs = creditPacks
		.map((pack) => ({
			productId: `${TEST_PRODUCT_PREFIX}${pack.key}`,
			name: pack.name,
			description: pack.description,
			credits: pack.credits,
			validityDays: pack.validityDays,
			priceAmount: pack.priceAmount,
			currency: pack.currency,
			recurringInterval: pack.recurringInterval,
			...PACK,
			// Read loosely: `bonusCredits` joins config/credit-packs.ts with the bonus packages.
			bonusCredits: (pack as { bonusCredits?: number }).bonusCredits ?? 0
		}))
		.sort(byOffer);
	return [...packs, ...[...plans].sort((a, b) => a.rank - b.rank).map(testModePlan)];
}

/** A plan of config/plans.ts as test mode offers it, under the fake product id `test_<key>`. */
export function testModePlan(plan: Plan): CatalogItem {
	return {
		productId: `${TEST_PRODUCT_PREFIX}${plan.key}`,
		name: plan.name,
		description: plan.description,
		credits: plan.creditsPerMonth,
		validityDays: plan.validityDays,
		priceAmount: plan.priceAmount,
		currency: plan.currency,
		recurringInterval: plan.interval === 'once' ? null : plan.interval,
		kind: 'plan',
		bonusCredits: 0,
		dailyLimit: plan.dailyLimit,
		membership: plan.membership,
		allocationMonths: allocationMonths(plan),
		planKey: plan.key,
		planRank: plan.rank
	};
}

/**
 * Keeps the catalog for `ttlMs`, so the buy page does not call Polar on every view. When Polar
 * fails, the last good copy is served (marked stale) and retried after `retryMs`; without one
 * the catalog is `unavailable`. Concurrent misses share one fetch.
 */
export function cachedCatalog(
	fetch: () => Promise<CatalogItem[]>,
	options: { ttlMs?: number; retryMs?: number; now?: () => number } = {}
): () => Promise<Catalog> {
	const { ttlMs = 5 * 60_000, retryMs = 30_000, now = Date.now } = options;
	let good: { items: CatalogItem[]; at: number } | null = null;
	let failedAt: { at: number; since: number } | null = null;
	let inFlight: Promise<Catalog> | null = null;

	async function refresh(): Promise<Catalog> {
		try {
			const items = await fetch();
			good = { items, at: now() };
			failedAt = null;
			return { items, staleSince: null, unavailable: false };
		} catch (error) {
			failedAt = { at: now(), since: failedAt?.since ?? now() };
			log.error(
				`Polar catalog unavailable: ${error instanceof Error ? error.message : String(error)}`
			);
			return served();
		}
	}

	function served(): Catalog {
		if (!good) return { items: [], staleSince: null, unavailable: true };
		const stale = failedAt !== null;
		return {
			items: good.items,
			staleSince: stale ? new Date(good.at) : null,
			unavailable: false
		};
	}

	return async () => {
		const t = now();
		const fresh = good && t - good.at < ttlMs && !failedAt;
		const backingOff = failedAt && t - failedAt.at < retryMs;
		if (fresh || backingOff) return served();
		inFlight ??= refresh().finally(() => (inFlight = null));
		return inFlight;
	};
}
