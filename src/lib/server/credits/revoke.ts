import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { creditPackage } from '../db/schema';
import { LedgerError } from './errors';
import { isExpired } from './allocation';
import { assertCredits, MAX_CREDITS } from './grant';
import { once } from './idempotency';
import { appendEntries, balanceAt } from './ledger';
import { withAccountLock, type Tx } from './transaction';

export type RevokeInput = RevokeOptions &
	(
		| {
				/** Credits to take back; never more than the package still holds. */
				credits: number;
				totalRevoked?: never;
		  }
		| {
				/**
				 * Cumulative refunds: take back whatever brings the package's revoked credits up to
				 * this total (nothing when it is already there). Read under the account lock, so
				 * concurrent refunds of one package never take more than the largest total.
				 */
				totalRevoked: number;
				credits?: never;
		  }
	);

interface RevokeOptions {
	packageId: string;
	key: string;
	reason: string;
	metadata?: Record<string, unknown>;
	/** `refund` (Polar refunds, the default) or `adjust` (an admin taking credits back). */
	type?: 'refund' | 'adjust';
	/** Runs inside the operation's transaction, once (not on replays): e.g. the admin audit row. */
	within?: (tx: Tx, result: RevokeResult) => Promise<void>;
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
	if (input.totalRevoked === undefined) assertCredits(input.credits);
	else assertTotal(input.totalRevoked);
	const [owner] = await db
		.select({ userId: creditPackage.userId })
		.from(creditPackage)
		.where(eq(creditPackage.id, input.packageId));
	if (!owner) throw new LedgerError('package_not_found', 'This package does not exist.');
	const op = {
		key: input.key,
		userId: owner.userId,
		name: 'revoke',
		args:
			input.totalRevoked === undefined
				? { packageId: input.packageId, credits: input.credits }
				: { packageId: input.packageId, totalRevoked: input.totalRevoked }
	};
	return withAccountLock(db, owner.userId, (tx) =>
		once(tx, op, async (): Promise<RevokeResult> => {
			const [pkg] = await tx
				.select()
				.from(creditPackage)
				.where(eq(creditPackage.id, input.packageId))
				.for('update');
			const wanted =
				input.totalRevoked === undefined
					? input.credits
					: Math.max(0, input.totalRevoked - pkg.revokedCredits);
			const revoked = Math.min(wanted, pkg.remainingCredits);
			const balanceBefore = await balanceAt(tx, owner.userId, now);
			if (revoked === 0) {
				const result = {
					packageId: pkg.id,
					revoked,
					shortfall: wanted,
					balanceAfter: balanceBefore,
					transactionIds: []
				};
				await input.within?.(tx, result);
				return result;
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
						type: input.type ?? 'refund',
						amount: -revoked,
						description: input.reason,
						metadata: { ...input.metadata, requested: wanted },
						changesBalance: !isExpired(pkg, now)
					}
				]
			);
			const result = { packageId: pkg.id, revoked, shortfall: wanted - revoked, ...written };
			await input.within?.(tx, result);
			return result;
		})
	);
}

function assertTotal(total: number): void {
	if (!Number.isInteger(total) || total < 0 || total > MAX_CREDITS) {
		throw new LedgerError(
			'invalid_amount',
			`A revoked total must be a whole number from 0 to ${MAX_CREDITS.toLocaleString('en')}.`,
			{ totalRevoked: total }
		);
	}
}
