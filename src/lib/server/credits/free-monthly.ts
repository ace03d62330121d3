import { and, eq, isNull, or, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { creditPackage, user } from '../db/schema';
import { LedgerError } from './errors';
import { grant } from './grant';
import { pgErrorCode } from './transaction';

/** The UTC month of `now`, `YYYY-MM`. */
export function utcMonth(now: Date): string {
	return now.toISOString().slice(0, 7);
}

/** The first instant of the UTC month after `now`'s: when a free month's credits expire. */
export function startOfNextUtcMonth(now: Date): Date {
	return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
}

/**
 * This month's free allowance (FREE_MONTHLY_CREDITS) for one user: a `free_monthly` package
 * valid until the UTC month ends. Once per user and month whatever runs it (the monthly job on
 * every instance, sign-up): the key and the unique (user_id, free_month) make a repeat a no-op.
 * Returns whether this call granted it.
 */
export async function grantFreeMonthlyTo(
	db: Db,
	userId: string,
	credits: number,
	now = new Date()
): Promise<boolean> {
	if (credits <= 0) return false;
	const month = utcMonth(now);
	try {
		const granted = await grant(db, {
			userId,
			source: 'free_monthly',
			name: `Free credits ${month}`,
			description: `Free monthly credits (${month})`,
			credits,
			expiresAt: startOfNextUtcMonth(now),
			key: `free-monthly:${userId}:${month}`,
			freeMonth: month,
			now
		});
		return !granted.replayed;
	} catch (error) {
		// Granted already under another amount or time (FREE_MONTHLY_CREDITS changed mid-month):
		// the month has its package, which is the goal.
		if (error instanceof LedgerError && error.code === 'idempotency_conflict') return false;
		if (pgErrorCode(error) === '23505') return false;
		// The account was deleted between the query and the grant.
		if (error instanceof LedgerError && error.code === 'user_not_found') return false;
		throw error;
	}
}

/**
 * Grants this UTC month's free credits to every eligible user who has none yet, `batch` users
 * at a time. Eligible as for the signup bonus: not banned, and with a verified email when email
 * verification is on. Safe on every instance at once: each grant is idempotent per user-month.
 * Returns how many packages this call granted.
 */
export async function grantFreeMonthly(
	db: Db,
	options: { credits: number; requireVerifiedEmail: boolean; batch?: number },
	now = new Date()
): Promise<number> {
	if (options.credits <= 0) return 0;
	const month = utcMonth(now);
	const batch = options.batch ?? 500;
	let granted = 0;
	let after = '';
	for (;;) {
		// Keyset over user ids, so a user whose grant failed is not picked again forever.
		const due = await db
			.select({ id: user.id })
			.from(user)
			.leftJoin(
				creditPackage,
				and(eq(creditPackage.userId, user.id), eq(creditPackage.freeMonth, month))
			)
			.where(
				and(
					isNull(creditPackage.id),
					sql`${user.id} > ${after}`,
					or(isNull(user.banned), eq(user.banned, false)),
					options.requireVerifiedEmail ? eq(user.emailVerified, true) : undefined
				)
			)
			.orderBy(user.id)
			.limit(batch);
		for (const row of due) {
			if (await grantFreeMonthlyTo(db, row.id, options.credits, now)) granted++;
		}
		if (due.length < batch) break;
		after = due[due.length - 1].id;
	}
	return granted;
}
