import { and, eq } from 'drizzle-orm';
import { adjust, LedgerError, MAX_CREDITS, revokeFromPackage, type AdjustMode } from '../credits';
import { creditPackage } from '../db/schema';
import type { Db } from '../db/client';
import { recordAudit, type Actor } from './audit';

export interface AdminAdjustInput {
	actor: Actor;
	userId: string;
	action: AdjustMode;
	amount: number;
	reason: string;
	/** For additions: when the added credits expire (null/undefined = never). */
	expiresAt?: Date | null;
	/** Idempotency key: the same key replays the first result and writes nothing more. */
	key: string;
}

/**
 * An admin's add / subtract / set, through the ledger (`adjust` rows carrying the admin and the
 * reason) with its audit row in the same transaction. Going below zero, or below what pending
 * replies have reserved, is refused by the ledger with nothing written.
 */
export async function adminAdjust(db: Db, input: AdminAdjustInput) {
	return adjust(db, {
		userId: input.userId,
		mode: input.action,
		credits: input.amount,
		reason: input.reason,
		actor: { id: input.actor.id, email: input.actor.email },
		expiresAt: input.expiresAt ?? null,
		key: `admin-adjust:${input.key}`,
		within: (tx, result) =>
			recordAudit(tx, {
				actor: input.actor,
				action: `credits.${input.action}`,
				targetUserId: input.userId,
				reason: input.reason.trim(),
				balanceBefore: result.balanceAfter - result.delta,
				balanceAfter: result.balanceAfter,
				details: {
					amount: input.amount,
					delta: result.delta,
					packageId: result.packageId,
					transactionIds: result.transactionIds,
					expiresAt: input.expiresAt?.toISOString() ?? null
				}
			})
	});
}

/** Takes the remainder of one package (an `adjust` row), audited in the same transaction. */
export async function adminRevokePackage(
	db: Db,
	input: { actor: Actor; userId: string; packageId: string; reason: string; key: string }
) {
	// The URL names the user too: a package of someone else reads as missing.
	const [owned] = await db
		.select({ id: creditPackage.id })
		.from(creditPackage)
		.where(and(eq(creditPackage.id, input.packageId), eq(creditPackage.userId, input.userId)));
	if (!owned) throw new LedgerError('package_not_found', 'This user has no such package.');
	return revokeFromPackage(db, {
		packageId: input.packageId,
		// Everything it still holds: the ledger caps a revoked total at what remains.
		totalRevoked: MAX_CREDITS,
		type: 'adjust',
		reason: input.reason.trim(),
		metadata: {
			reason: input.reason.trim(),
			actor: { id: input.actor.id, email: input.actor.email }
		},
		key: `admin-revoke:${input.key}`,
		within: (tx, result) =>
			recordAudit(tx, {
				actor: input.actor,
				action: 'package.revoke',
				targetUserId: input.userId,
				reason: input.reason.trim(),
				balanceBefore: result.balanceAfter + result.revoked,
				balanceAfter: result.balanceAfter,
				details: {
					packageId: result.packageId,
					revoked: result.revoked,
					transactionIds: result.transactionIds
				}
			})
	});
}
