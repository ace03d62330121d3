import type { models } from '@polar-sh/sdk/2026-10';
import { MAX_CREDITS } from '../credits';

/** What a Polar product grants, read from its metadata. */
export type ProductCredits =
	| {
			ok: true;
			/** Credits in one package of this product (one purchase, or one subscription cycle). */
			credits: number;
			/** `validity_period` in days: null when absent, 0 = never expires. */
			validityDays: number | null;
	  }
	| { ok: false; reason: string };

const MAX_VALIDITY_DAYS = 36_600;

/**
 * Reads a product's metadata: `credits` (a positive whole number) and optionally
 * `validity_period` (whole days, 0 = never expires). Polar's dashboard stores metadata values as
 * strings, the API also as numbers; both are accepted, anything else is refused with a reason.
 */
export function creditsOfProduct(
	metadata: Record<string, string | number | boolean> | null | undefined
): ProductCredits {
	const credits = wholeNumber(metadata?.credits);
	if (credits === null || credits < 1 || credits > MAX_CREDITS) {
		return {
			ok: false,
			reason: `The product's metadata needs "credits" as a whole number from 1 to ${MAX_CREDITS.toLocaleString('en')} (found ${describe(metadata?.credits)}).`
		};
	}
	if (metadata?.validity_period === undefined || metadata.validity_period === '') {
		return { ok: true, credits, validityDays: null };
	}
	const validityDays = wholeNumber(metadata.validity_period);
	if (validityDays === null || validityDays > MAX_VALIDITY_DAYS) {
		return {
			ok: false,
			reason: `The product's "validity_period" must be a whole number of days, 0 for never (found ${describe(metadata.validity_period)}).`
		};
	}
	return { ok: true, credits, validityDays };
}

function wholeNumber(value: unknown): number | null {
	if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
	if (typeof value === 'string' && /^\s*\d{1,15}\s*$/.test(value)) return Number(value);
	return null;
}

function describe(value: unknown): string {
	return value === undefined ? 'nothing' : JSON.stringify(value);
}

/** The product's active fixed price, if it has one (custom and metered prices are not offered). */
export function fixedPrice(product: models.Product) {
	return product.prices.find(
		(p): p is Extract<typeof p, { amount_type: 'fixed' }> =>
			'amount_type' in p && p.amount_type === 'fixed' && !p.is_archived
	);
}
