import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { creditPackage } from '../db/schema';
import { LedgerError } from './errors';
import { isExpired } from './allocation';
import { assertCredits } from './grant';
import { once } from './idempotency';
import { appendEntries, balanceAt } from './ledger';
import { withAccountLock } from './transaction';

export interface RevokeInput {
	packageId: string;
	/** Credits to take back; never more than the package still holds. */
	credits: number;
	key: string;
	reason: string;
	metadata?: Record<string, unknown>;
	now?: Date;
}

export interface RevokeResult {
	packageId: string;
	revoked: number;
	/** Credits asked for but already spent, so not taken back. */
	shortfall: number;
	balanceAfter: number;
	transactionIds: number[];
}

/** Takes credits back from one package (refunds); no other package is touched. */
export async function revokeFromPackage(
	db: Db,
	input: RevokeInput
): Promise<RevokeResult & { replayed: boolean }> {
	const now = input.now ?? new Date();
	assertCredits(input.credits);
	const [owner] = await db
		.select({ userId: creditPackage.userId })
		.from(creditPackage)
		.where(eq(creditPackage.id, input.packageId));
	if (!owner) throw new LedgerError('package_not_found', 'This package does not exist.');
	const op = {
		key: input.key,
		userId: owner.userId,
		name: 'revoke',
		args: { packageId: input.packageId, credits: input.credits }
	};
	return withAccountLock(db, owner.userId, (tx) =>
		once(tx, op, async (): Promise<RevokeResult> => {
			const [pkg] = await tx
				.select()
				.from(creditPackage)
				.where(eq(creditPackage.id, input.packageId))
				.for('update');
			const revoked = Math.min(input.credits, pkg.remainingCredits);
			const balanceBefore = await balanceAt(tx, owner.userId, now);
			if (revoked === 0) {
				return {
					packageId: pkg.id,
					revoked,
					shortfall: input.credits,
					balanceAfter: balanceBefore,
					transactionIds: []
				};
			}
			await tx
				.update(creditPackage)
				.set({
					remainingCredits: sql`${creditPackage.remainingCredits} - ${revoked}`,
					revokedCredits: sql`${creditPackage.revokedCredits} + ${revoked}`
				})
				.where(eq(creditPackage.id, pkg.id));
			const written = await appendEntries(
				tx,
				{ userId: owner.userId, key: input.key, now, balanceBefore },
				[
					{
						packageId: pkg.id,
						type: 'refund',
						amount: -revoked,
						description: input.reason,
						metadata: { ...input.metadata, requested: input.credits },
						changesBalance: !isExpired(pkg, now)
					}
				]
			);
			return {
				packageId: pkg.id,
				revoked,
				shortfall: input.credits - revoked,
				...written
			};
		})
	);
}
