import type { models } from '@polar-sh/sdk/2026-10';
import { MAX_CREDITS } from '../credits';

/** What a Polar product grants, read from its metadata (see config/plans.ts for the contract). */
export type ProductCredits =
	| {
			ok: true;
			/** Credits in one package of this product (one purchase, one cycle, one month); 0 = membership. */
			credits: number;
			/** `validity_period` in days: null when absent, 0 = never expires. */
			validityDays: number | null;
			/** `bonus_credits`: a second package of kind `bonus` with each package; 0 = none. */
			bonusCredits: number;
			/** `daily_limit`: credits its packages may give per UTC day; null = no limit. */
			dailyLimit: number | null;
			/** `membership: true`: replies cost 0 while its subscription is active. */
			membership: boolean;
			/** `allocation_months`: one order is allocated monthly over this many months; 1 = at once. */
			allocationMonths: number;
			planKey: string | null;
			planRank: number | null;
	  }
	| { ok: false; reason: string };

const MAX_VALIDITY_DAYS = 36_600;
/** A lifetime plan is allocated over 100 years; more is a typo. */
export const MAX_ALLOCATION_MONTHS = 1_200;

type Metadata = Record<string, string | number | boolean> | null | undefined;

/**
 * Reads a product's metadata: `credits` (a whole number, 0 only for a membership), and
 * optionally `validity_period` (whole days, 0 = never expires), `bonus_credits`, `daily_limit`,
 * `membership`, `allocation_months`, `plan_key` and `plan_rank`. Polar's dashboard stores
 * metadata values as strings, the API also as numbers or booleans; both are accepted, anything
 * else is refused with a reason an admin can act on.
 */
export function creditsOfProduct(metadata: Metadata): ProductCredits {
	const membership = flag(metadata?.membership);
	if (membership === null) {
		return fail(`"membership" must be true or false (found ${describe(metadata?.membership)}).`);
	}
	const credits = wholeNumber(metadata?.credits);
	if (credits === null || credits < (membership ? 0 : 1) || credits > MAX_CREDITS) {
		return fail(
			`The product's metadata needs "credits" as a whole number from ${membership ? 0 : 1} to ${MAX_CREDITS.toLocaleString('en')} (found ${describe(metadata?.credits)}).`
		);
	}
	const validityDays = optional(metadata?.validity_period, 0, MAX_VALIDITY_DAYS);
	if (validityDays === undefined) {
		return fail(
			`The product's "validity_period" must be a whole number of days, 0 for never (found ${describe(metadata?.validity_period)}).`
		);
	}
	const bonusCredits = optional(metadata?.bonus_credits, 0, MAX_CREDITS);
	if (bonusCredits === undefined || (bonusCredits && credits === 0)) {
		return fail(
			`"bonus_credits" must be a whole number of credits, on a product that grants credits (found ${describe(metadata?.bonus_credits)}).`
		);
	}
	const dailyLimit = optional(metadata?.daily_limit, 1, MAX_CREDITS);
	if (dailyLimit === undefined) {
		return fail(
			`"daily_limit" must be a whole number of credits from 1, or absent for no limit (found ${describe(metadata?.daily_limit)}).`
		);
	}
	const allocationMonths = optional(metadata?.allocation_months, 1, MAX_ALLOCATION_MONTHS);
	if (allocationMonths === undefined || (allocationMonths && allocationMonths > 1 && !credits)) {
		return fail(
			`"allocation_months" must be a whole number from 1 to ${MAX_ALLOCATION_MONTHS}, on a product that grants credits (found ${describe(metadata?.allocation_months)}).`
		);
	}
	const planKey = metadata?.plan_key;
	if (
		planKey !== undefined &&
		(typeof planKey !== 'string' || !/^[a-z0-9][a-z0-9-]{0,63}$/.test(planKey))
	) {
		return fail(
			`"plan_key" must be a plan's key from config/plans.ts (found ${describe(planKey)}).`
		);
	}
	const planRank = optional(metadata?.plan_rank, 0, 1_000_000);
	if (planRank === undefined) {
		return fail(`"plan_rank" must be a whole number (found ${describe(metadata?.plan_rank)}).`);
	}
	return {
		ok: true,
		credits,
		validityDays,
		bonusCredits: bonusCredits ?? 0,
		dailyLimit,
		membership,
		allocationMonths: allocationMonths ?? 1,
		planKey: planKey ?? null,
		planRank
	};
}

const fail = (reason: string) => ({ ok: false as const, reason });

/** null when absent or empty, undefined when present but not a whole number in range. */
function optional(value: unknown, min: number, max: number): number | null | undefined {
	if (value === undefined || value === '' || value === null) return null;
	const n = wholeNumber(value);
	return n === null || n < min || n > max ? undefined : n;
}

function flag(value: unknown): boolean | null {
	if (value === undefined || value === '' || value === false || value === 'false') return false;
	if (value === true || value === 'true') return true;
	return null;
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
