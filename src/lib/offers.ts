import { formatMoney } from './format';
import type { CatalogOffer } from './types';

/** What 1,000 credits cost in this pack, e.g. "$5.00". */
export function pricePerThousand(
	offer: Pick<CatalogOffer, 'priceAmount' | 'credits' | 'currency'>
): string {
	return formatMoney((offer.priceAmount * 1000) / offer.credits, offer.currency);
}

/** How long the credits last, in words. */
export function offerTerms(
	offer: Pick<CatalogOffer, 'validityDays' | 'recurringInterval'>
): string {
	if (offer.validityDays) return `Valid ${offer.validityDays} days`;
	if (offer.recurringInterval)
		return `Until the next ${offer.recurringInterval}’s credits + 7 days`;
	return 'Never expires';
}
