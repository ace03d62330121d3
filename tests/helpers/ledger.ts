import { eq } from 'drizzle-orm';
import { expect } from 'vitest';
import { grant, verify } from '../../src/lib/server/credits';
import type { Db } from '../../src/lib/server/db/client';
import { creditTransaction } from '../../src/lib/server/db/schema';
import { createUser } from './users';

export const DAY = 86_400_000;
/** The ledger suites' clock starts here; operations take `now` explicitly. */
export const T0 = new Date('2026-11-01T00:00:00Z');
/** `days` after T0. */
export const at = (days: number) => new Date(T0.getTime() + days * DAY);

/**
 * A new user holding these purchased packages, granted 1 ms apart from T0 (or at `at`), so
 * creation order is also age order.
 */
export async function userWith(
	db: Db,
	...packages: { credits: number; days?: number; at?: Date }[]
): Promise<{ userId: string; packageIds: string[] }> {
	const userId = await createUser(db);
	const packageIds: string[] = [];
	for (const [i, p] of packages.entries()) {
		const now = p.at ?? new Date(T0.getTime() + i);
		const result = await grant(db, {
			userId,
			source: 'purchase',
			name: `Pack ${i + 1}`,
			credits: p.credits,
			expiresAt: p.days ? new Date(now.getTime() + p.days * DAY) : null,
			key: `grant:${userId}:${i}`,
			now
		});
		packageIds.push(result.packageId);
	}
	return { userId, packageIds };
}

/** The user's ledger rows, oldest first. */
export function ledgerRows(db: Db, userId: string) {
	return db
		.select()
		.from(creditTransaction)
		.where(eq(creditTransaction.userId, userId))
		.orderBy(creditTransaction.id);
}

/** Asserts that replaying the ledger (of one user, or everyone) finds no drift. */
export async function expectNoDrift(db: Db, userId?: string): Promise<void> {
	expect((await verify(db, { userId })).drifts).toEqual([]);
}
