import type { Db } from '../db/client';
import { LedgerError } from './errors';
import { grantFreeMonthlyTo } from './free-monthly';
import { expiryAfterDays, grant } from './grant';

/** The welcome package every new user gets; one per user, whatever retries happen. */
export async function grantSignupBonus(
	db: Db,
	userId: string,
	bonus: { credits: number; days: number },
	now = new Date()
) {
	if (bonus.credits <= 0) return null;
	const granted = grant(db, {
		userId,
		source: 'signup_bonus',
		name: 'Welcome bonus',
		description: 'Signup bonus',
		credits: bonus.credits,
		expiresAt: expiryAfterDays(bonus.days, now),
		key: `signup-bonus:${userId}`,
		now
	});
	// A retry at another time computes another expiry: the bonus exists already, which is the goal.
	return granted.catch((error) => {
		if (error instanceof LedgerError && error.code === 'idempotency_conflict') return null;
		throw error;
	});
}

/**
 * What a new account gets once it may have credits (at sign-up, or when its email is verified):
 * the welcome bonus and, when FREE_MONTHLY_CREDITS is on, the current month's free credits at
 * once (the monthly job would otherwise give them only on the next run).
 */
export async function grantWelcomeCredits(
	db: Db,
	userId: string,
	bonus: { credits: number; days: number },
	freeMonthlyCredits: number,
	now = new Date()
) {
	await grantSignupBonus(db, userId, bonus, now);
	await grantFreeMonthlyTo(db, userId, freeMonthlyCredits, now);
}
