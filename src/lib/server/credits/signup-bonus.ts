import type { Db } from '../db/client';
import { LedgerError } from './errors';
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
