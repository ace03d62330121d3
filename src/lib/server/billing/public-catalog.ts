import { z } from 'zod';
import { addressBucket } from '../auth/throttle';
import type { Db } from '../db/client';
import { AppError } from '../errors';
import { hit, type Limit } from '../security/rate-limit';
import type { Catalog, CatalogItem } from './catalog';

/** Requests per client address and minute to the public catalog (shared by every instance). */
export const CATALOG_RATE_LIMIT: Limit = { max: 60, windowSeconds: 60 };

export const catalogQuery = z.object({ kind: z.enum(['pack', 'plan']).optional() }).strict();

export interface PublicOffer {
	productId: string;
	name: string;
	description: string | null;
	/** Minor units (cents) of `currency`. */
	price: { amount: number; currency: string };
	/** `once` for a one-time purchase. */
	interval: 'day' | 'week' | 'month' | 'year' | 'once';
	/** Per package: per purchase for a pack, per month for a plan. */
	credits: number;
	bonusCredits: number;
	validityDays: number | null;
	dailyLimit: number | null;
	membership: boolean;
	allocationMonths: number;
	planKey: string | null;
	planRank: number | null;
}

export interface PublicCatalog {
	packs: PublicOffer[];
	plans: PublicOffer[];
	/** Set when Polar could not be reached and this is the last good copy. */
	staleSince: string | null;
}

function publicOffer(item: CatalogItem): PublicOffer {
	return {
		productId: item.productId,
		name: item.name,
		description: item.description,
		price: { amount: item.priceAmount, currency: item.currency },
		interval: item.recurringInterval ?? 'once',
		credits: item.credits,
		bonusCredits: item.bonusCredits,
		validityDays: item.validityDays,
		dailyLimit: item.dailyLimit,
		membership: item.membership,
		allocationMonths: item.allocationMonths,
		planKey: item.planKey,
		planRank: item.planRank
	};
}

/**
 * `GET /api/credits/catalog`: the packs and plans on offer, from the same cached catalog as the
 * buy page (so it never calls Polar per request), limited per client address.
 */
export async function publicCatalog(
	db: Db,
	input: {
		address: string;
		query: Record<string, string>;
		catalog: () => Promise<Catalog>;
		limit?: Limit;
	}
): Promise<PublicCatalog> {
	const verdict = await hit(
		db,
		`catalog:address:${addressBucket(input.address)}`,
		input.limit ?? CATALOG_RATE_LIMIT
	);
	if (!verdict.allowed) {
		throw new AppError(429, 'rate_limited', 'Too many catalog requests; try again shortly.', {
			retryAfterSeconds: verdict.retryAfterSeconds
		});
	}
	const query = catalogQuery.safeParse(input.query);
	if (!query.success) {
		throw new AppError(
			400,
			'invalid_request',
			'The only query parameter is kind=pack or kind=plan.'
		);
	}
	const catalog = await input.catalog();
	if (catalog.unavailable) {
		throw new AppError(503, 'catalog_unavailable', 'The catalog is unavailable; try again later.');
	}
	const offers = catalog.items.map(publicOffer);
	const kind = query.data.kind;
	return {
		packs: kind === 'plan' ? [] : offers.filter((o) => o.planKey === null),
		plans: kind === 'pack' ? [] : offers.filter((o) => o.planKey !== null),
		staleSince: catalog.staleSince?.toISOString() ?? null
	};
}
