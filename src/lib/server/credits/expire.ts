import { and, asc, eq, gt, isNotNull, lte, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { creditHold, creditPackage } from '../db/schema';
import { resolveHold, settleHold } from './holds';
import { appendEntries, balanceAt } from './ledger';
import { withAccountLock } from './transaction';

export interface SweepResult {
	expiredPackages: number;
	forfeitedCredits: number;
	settledHolds: number;
	expiredHolds: number;
}

/**
 * Writes the `expire` row of every package past its expiry that still holds credits, then
 * resolves holds whose process never came back. Expired packages already stopped counting when
 * their time came (reads filter on `expires_at`); this makes the ledger say so. Safe to run on
 * every instance at once: each package and hold is re-checked under its user's lock.
 */
export async function sweep(
	db: Db,
	options: { now?: Date; batch?: number } = {}
): Promise<SweepResult> {
	const now = options.now ?? new Date();
	const batch = options.batch ?? 500;
	const packages = await expireDue(db, now, batch);
	const holds = await resolveStaleHolds(db, now, batch);
	return { ...packages, ...holds };
}

export async function expireDue(db: Db, now: Date, batch = 500) {
	const due = await db
		.selectDistinct({ userId: creditPackage.userId })
		.from(creditPackage)
		.where(
			and(
				gt(creditPackage.remainingCredits, 0),
				isNotNull(creditPackage.expiresAt),
				lte(creditPackage.expiresAt, now)
			)
		)
		.limit(batch);
	let expiredPackages = 0;
	let forfeitedCredits = 0;
	for (const { userId } of due) {
		const result = await expireForUser(db, userId, now);
		expiredPackages += result.packages;
		forfeitedCredits += result.credits;
	}
	return { expiredPackages, forfeitedCredits };
}

async function expireForUser(db: Db, userId: string, now: Date) {
	return withAccountLock(db, userId, async (tx) => {
		const expired = await tx
			.select()
			.from(creditPackage)
			.where(
				and(
					eq(creditPackage.userId, userId),
					gt(creditPackage.remainingCredits, 0),
					lte(creditPackage.expiresAt, now)
				)
			)
			.orderBy(asc(creditPackage.expiresAt), asc(creditPackage.createdAt), asc(creditPackage.id))
			.for('update');
		if (expired.length === 0) return { packages: 0, credits: 0 };
		const balance = await balanceAt(tx, userId, now);
		let credits = 0;
		for (const pkg of expired) {
			await tx
				.update(creditPackage)
				.set({
					remainingCredits: 0,
					expiredCredits: sql`${creditPackage.expiredCredits} + ${pkg.remainingCredits}`
				})
				.where(eq(creditPackage.id, pkg.id));
			// One key per package: a second sweep finds nothing left, and the key forbids a twin row.
			await appendEntries(tx, { userId, key: `expire:${pkg.id}`, now, balanceBefore: balance }, [
				{
					packageId: pkg.id,
					type: 'expire',
					amount: -pkg.remainingCredits,
					description: `${pkg.name} expired`,
					metadata: { expiredAt: pkg.expiresAt?.toISOString() },
					changesBalance: false
				}
			]);
			credits += pkg.remainingCredits;
		}
		return { packages: expired.length, credits };
	});
}

/**
 * Holds past their expiry belong to replies whose process died. Each is settled for what it was
 * known to owe (`owed_credits`), or released as `expired` when nothing was owed; the decision and
 * the amount are read under the user's lock, so a late `recordOwed` or a second sweeping
 * instance cannot make it charge a stale figure or twice.
 */
export async function resolveStaleHolds(db: Db, now: Date, batch = 500) {
	const stale = await db
		.select({ id: creditHold.id, userId: creditHold.userId })
		.from(creditHold)
		.where(and(eq(creditHold.status, 'pending'), lte(creditHold.expiresAt, now)))
		.orderBy(asc(creditHold.expiresAt))
		.limit(batch);
	let settledHolds = 0;
	let expiredHolds = 0;
	for (const { id, userId } of stale) {
		const outcome = await withAccountLock(db, userId, async (tx) => {
			const [hold] = await tx.select().from(creditHold).where(eq(creditHold.id, id)).for('update');
			if (hold?.status !== 'pending') return 'gone';
			if (hold.owedCredits === 0) {
				await resolveHold(tx, hold.id, 'expired', now, 0);
				return 'expired';
			}
			// The same settlement as settle() (drizzle/0004_credit_settle_function.sql), in this
			// transaction, whose locks it re-takes at no cost; it stores its result under the key.
			await settleHold(tx, {
				userId,
				holdId: hold.id,
				cost: hold.owedCredits,
				key: `sweep:${hold.id}`,
				now,
				description: 'Interrupted reply',
				metadata: { stale: true }
			});
			return 'settled';
		});
		if (outcome === 'settled') settledHolds++;
		if (outcome === 'expired') expiredHolds++;
	}
	return { settledHolds, expiredHolds };
}
