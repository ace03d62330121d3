/** How far ahead the dashboard warns about expiring credits. */
export const EXPIRY_NOTICE_DAYS = 14;

export interface ExpiryNotice {
	credits: number;
	/** The soonest expiry among live packages. */
	expiresAt: string;
}

/**
 * The credits that expire next, if any live package expires within `withinDays`: the soonest
 * expiry, with the credits of every live package expiring on the same UTC day.
 */
export function nextExpiry(
	packages: { status: string; remainingCredits: number; expiresAt: string | null }[],
	now: Date,
	withinDays = EXPIRY_NOTICE_DAYS
): ExpiryNotice | null {
	const horizon = now.getTime() + withinDays * 86_400_000;
	const due = packages
		.filter((p) => p.status === 'active' && p.remainingCredits > 0 && p.expiresAt)
		.map((p) => ({ credits: p.remainingCredits, at: new Date(p.expiresAt!) }))
		.filter((p) => p.at.getTime() > now.getTime() && p.at.getTime() <= horizon)
		.sort((a, b) => a.at.getTime() - b.at.getTime());
	if (due.length === 0) return null;
	const day = due[0].at.toISOString().slice(0, 10);
	const credits = due
		.filter((p) => p.at.toISOString().slice(0, 10) === day)
		.reduce((sum, p) => sum + p.credits, 0);
	return { credits, expiresAt: due[0].at.toISOString() };
}
