import { and, eq, isNotNull, isNull } from 'drizzle-orm';
import type { CreditAlertView } from '../../types';
import type { Db } from '../db/client';
import { creditAlert, user } from '../db/schema';
import { balanceAt, reservedBy } from './ledger';
import { withAccountLock, type Executor, type Tx } from './transaction';
import { log } from '../log';

/** The bounds of a low-balance threshold, in whole credits. */
export const LOW_BALANCE_MIN = 1;
export const LOW_BALANCE_MAX = 1_000_000;

/** One downward crossing of a user's threshold: what the notice and the email say. */
export interface LowBalanceCrossing {
	userId: string;
	email: string;
	name: string;
	threshold: number;
	available: number;
	firedAt: Date;
}

/** Tells the user about a crossing (the email); called once per crossing, after the commit. */
export type LowBalanceNotifier = (crossing: LowBalanceCrossing) => Promise<void>;

// The ledger imports nothing but the database, so the mail side is handed in by the runtime.
let notifier: LowBalanceNotifier | null = null;

/** Sets who is told about crossings (the runtime: the email); null sends nothing. */
export function setLowBalanceNotifier(next: LowBalanceNotifier | null): void {
	notifier = next;
}

/** What a user may spend now: the balance less what pending replies set aside, never below 0. */
async function availableOf(tx: Executor, userId: string, now: Date): Promise<number> {
	const [balance, reserved] = await Promise.all([
		balanceAt(tx, userId, now),
		reservedBy(tx, userId)
	]);
	return Math.max(0, balance - reserved);
}

export type LowBalanceCheck = 'fired' | 'rearmed' | null;

/**
 * Compares the user's available credits with their threshold, under the account lock so that
 * 20 replies settling at once see one crossing between them: an armed alert below the
 * threshold fires (disarms, records the crossing, shows the notice again) and the user is told
 * once; a fired alert at or above it is armed again. Call it after anything that moves credits.
 */
export async function checkLowBalance(
	db: Db,
	userId: string,
	now: Date = new Date(),
	notify: LowBalanceNotifier | null = notifier
): Promise<LowBalanceCheck> {
	// Most users set no alert: they cost one indexed read, not a wait for their account lock.
	const [set] = await db
		.select({ userId: creditAlert.userId })
		.from(creditAlert)
		.where(eq(creditAlert.userId, userId));
	if (!set) return null;
	const result = await withAccountLock(db, userId, async (tx) => {
		const [alert] = await tx.select().from(creditAlert).where(eq(creditAlert.userId, userId));
		if (!alert) return null;
		const available = await availableOf(tx, userId, now);
		if (alert.armed && available < alert.threshold) {
			await tx
				.update(creditAlert)
				.set({
					armed: false,
					firedAt: now,
					firedAvailable: available,
					dismissedAt: null,
					updatedAt: now
				})
				.where(eq(creditAlert.userId, userId));
			const [recipient] = await tx
				.select({ email: user.email, name: user.name })
				.from(user)
				.where(eq(user.id, userId));
			const crossing: LowBalanceCrossing = {
				userId,
				email: recipient?.email ?? '',
				name: recipient?.name ?? '',
				threshold: alert.threshold,
				available,
				firedAt: now
			};
			return { check: 'fired' as const, crossing };
		}
		if (!alert.armed && available >= alert.threshold) {
			await tx
				.update(creditAlert)
				.set({ armed: true, updatedAt: now })
				.where(eq(creditAlert.userId, userId));
			return { check: 'rearmed' as const, crossing: null };
		}
		return null;
	});
	if (!result) return null;
	// After the commit: a rolled-back crossing must not have sent anything.
	if (result.crossing && result.crossing.email && notify) {
		try {
			await notify(result.crossing);
		} catch (error) {
			log.error({ err: error }, `[credits] the low-balance email to user ${userId} failed`);
		}
	}
	return result.check;
}

/**
 * Sets the user's threshold, or clears it (`null`). A new threshold is armed only when the
 * credits are at or above it: setting it while already below is not a crossing.
 */
export async function setLowBalanceThreshold(
	db: Db,
	userId: string,
	threshold: number | null,
	now: Date = new Date()
): Promise<void> {
	if (threshold !== null && !isThreshold(threshold)) {
		throw new RangeError(`threshold must be a whole number from ${LOW_BALANCE_MIN}`);
	}
	await withAccountLock(db, userId, async (tx: Tx) => {
		if (threshold === null) {
			await tx.delete(creditAlert).where(eq(creditAlert.userId, userId));
			return;
		}
		const armed = (await availableOf(tx, userId, now)) >= threshold;
		await tx
			.insert(creditAlert)
			.values({ userId, threshold, armed, updatedAt: now })
			.onConflictDoUpdate({
				target: creditAlert.userId,
				set: {
					threshold,
					armed,
					firedAt: null,
					firedAvailable: null,
					dismissedAt: null,
					updatedAt: now
				}
			});
	});
}

export function isThreshold(value: number): boolean {
	return Number.isInteger(value) && value >= LOW_BALANCE_MIN && value <= LOW_BALANCE_MAX;
}

/** Hides the notice of the last crossing; true when there was one to hide. */
export async function dismissLowBalanceNotice(
	db: Db,
	userId: string,
	now: Date = new Date()
): Promise<boolean> {
	const dismissed = await db
		.update(creditAlert)
		.set({ dismissedAt: now, updatedAt: now })
		.where(
			and(
				eq(creditAlert.userId, userId),
				isNotNull(creditAlert.firedAt),
				isNull(creditAlert.dismissedAt)
			)
		)
		.returning({ userId: creditAlert.userId });
	return dismissed.length > 0;
}

/** The user's threshold and the notice to show (a crossing not dismissed yet). */
export async function lowBalanceOf(db: Executor, userId: string): Promise<CreditAlertView> {
	const [alert] = await db.select().from(creditAlert).where(eq(creditAlert.userId, userId));
	if (!alert) return { threshold: null, notice: null };
	const notice =
		alert.firedAt && !alert.dismissedAt
			? {
					firedAt: alert.firedAt.toISOString(),
					available: alert.firedAvailable ?? 0,
					threshold: alert.threshold
				}
			: null;
	return { threshold: alert.threshold, notice };
}
