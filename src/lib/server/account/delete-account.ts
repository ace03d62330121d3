import { createHash } from 'node:crypto';
import { eq, inArray, or } from 'drizzle-orm';
import { recordAudit } from '../admin/audit';
import { adjust, LedgerError, pendingHoldsOf } from '../credits';
import type { Tx } from '../credits/transaction';
import type { Db } from '../db/client';
import { account, chat, chatMessage, creditHold, session, user, verification } from '../db/schema';
import { AppError } from '../errors';

export const DELETED_USER_NAME = 'Deleted user';
export const ACCOUNT_DELETED_REASON = 'Account deleted by its owner';

/** The address a deleted account keeps: unique, and unroutable by RFC 6761. */
export function deletedEmail(userId: string): string {
	return `deleted-${userId}@deleted.invalid`;
}

export interface DeleteAccountResult {
	userId: string;
	/** Available credits forfeited through the ledger. */
	forfeited: number;
	chats: number;
	sessions: number;
}

/**
 * Deletes what a person put into their account — chats and messages, sessions, the password
 * hash, pending verification tokens — and keeps an anonymised user row, so that every ledger row,
 * package, hold and Polar order still points at a user for accounting. Remaining credits are
 * forfeited through the ledger (an `adjust` row with `balance_after`), never by hand. One
 * transaction under the ledger's account lock: all of it happens or none of it.
 *
 * A reply still streaming holds credits; deleting under it would leave the stream writing into
 * a chat that is gone, so the deletion is refused until it ends (a hold always resolves: the reply
 * finishes, or the sweep settles it).
 */
export async function deleteAccount(
	db: Db,
	input: { userId: string; now?: Date }
): Promise<DeleteAccountResult> {
	const { userId } = input;
	const now = input.now ?? new Date();
	const [owner] = await db.select({ email: user.email }).from(user).where(eq(user.id, userId));
	if (!owner) throw new AppError(404, 'user_not_found', 'There is no such account.');
	const email = owner.email;
	const anonymousEmail = deletedEmail(userId);
	if (email === anonymousEmail) {
		throw new AppError(409, 'already_deleted', 'This account has already been deleted.');
	}
	if (await hasPendingHolds(db, userId)) throw replyInProgress();

	let counts = { chats: 0, sessions: 0 };
	try {
		const result = await adjust(db, {
			userId,
			mode: 'set',
			credits: 0,
			reason: ACCOUNT_DELETED_REASON,
			// The owner, by id only: the ledger keeps no email of a deleted account.
			actor: { id: userId, role: 'owner' },
			key: `account-delete:${userId}`,
			now,
			within: async (tx, adjusted) => {
				// Checked again under the account lock: a reply may have started since.
				if (await hasPendingHolds(tx, userId)) throw replyInProgress();
				counts = await erase(tx, userId, email);
				await recordAudit(tx, {
					actor: { id: userId, email: anonymousEmail },
					action: 'account.delete',
					targetUserId: userId,
					reason: ACCOUNT_DELETED_REASON,
					balanceBefore: adjusted.balanceAfter - adjusted.delta,
					balanceAfter: adjusted.balanceAfter,
					details: {
						forfeited: Math.max(0, -adjusted.delta),
						transactionIds: adjusted.transactionIds,
						...counts
					}
				});
			}
		});
		return { userId, forfeited: Math.max(0, -result.delta), ...counts };
	} catch (error) {
		// `set 0` refuses to take credits a pending hold set aside: that is a reply in progress.
		if (error instanceof LedgerError && error.code === 'insufficient_credits') {
			throw replyInProgress();
		}
		throw error;
	}
}

async function erase(tx: Tx, userId: string, email: string) {
	await tx.delete(chatMessage).where(eq(chatMessage.userId, userId));
	const chats = await tx.delete(chat).where(eq(chat.userId, userId)).returning({ id: chat.id });
	const sessions = await tx
		.delete(session)
		.where(eq(session.userId, userId))
		.returning({ id: session.id });
	await tx.delete(account).where(eq(account.userId, userId));
	// Verification rows name the address (plain, or hashed as better-auth's
	// `storeIdentifier: 'hashed'` stores it); password-reset rows carry the user id as value.
	await tx
		.delete(verification)
		.where(
			or(
				inArray(verification.identifier, [email, hashedIdentifier(email)]),
				eq(verification.value, userId)
			)
		);
	const updated = await tx
		.update(user)
		.set({
			email: deletedEmail(userId),
			name: DELETED_USER_NAME,
			image: null,
			emailVerified: false,
			role: 'user',
			banned: true,
			banReason: 'Account deleted',
			banExpires: null
		})
		.where(eq(user.id, userId))
		.returning({ id: user.id });
	if (updated.length !== 1) throw new Error(`could not anonymise user ${userId}`);
	return { chats: chats.length, sessions: sessions.length };
}

/** better-auth's hashed verification identifier: SHA-256, base64url without padding. */
function hashedIdentifier(identifier: string): string {
	return createHash('sha256').update(identifier).digest('base64url');
}

async function hasPendingHolds(db: Db | Tx, userId: string): Promise<boolean> {
	const rows = await db
		.select({ id: creditHold.id })
		.from(creditHold)
		.where(pendingHoldsOf(userId))
		.limit(1);
	return rows.length > 0;
}

function replyInProgress(): AppError {
	return new AppError(
		409,
		'reply_in_progress',
		'A reply is still being written. Wait for it to finish (or stop it), then delete the account.'
	);
}
