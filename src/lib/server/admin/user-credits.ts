import { balanceOf, LedgerError, type AdjustMode } from '../credits';
import type { Db } from '../db/client';
import { AppError } from '../errors';
import type { Actor } from './audit';
import { adminAdjust, adminRevokePackage } from './credits';
import { balanceNow, transactionsById, userExists } from './users';

/**
 * What the admin API and the admin pages both call: the ledger operation, then the rows it wrote
 * and the balance now. A subtraction the balance cannot cover is a conflict with the account's
 * state (409), not a payment problem (the ledger's 402 is for users' own replies).
 */

async function mustExist(db: Db, userId: string) {
	if (!(await userExists(db, userId)))
		throw new AppError(404, 'user_not_found', 'There is no such user.');
}

function asConflict(error: unknown): never {
	if (error instanceof LedgerError && error.code === 'insufficient_credits') {
		throw new AppError(409, 'insufficient_credits', error.message, error.details);
	}
	throw error;
}

export async function adjustUserCredits(
	db: Db,
	input: {
		actor: Actor;
		userId: string;
		action: AdjustMode;
		amount: number;
		reason: string;
		expiresAt?: Date | null;
		key: string;
	}
) {
	await mustExist(db, input.userId);
	// Keys are the client's: one admin's key never replays another admin's request.
	const key = `${input.actor.id}:${input.key}`;
	const result = await adminAdjust(db, { ...input, key }).catch(asConflict);
	return {
		replayed: result.replayed,
		delta: result.delta,
		balanceAfter: result.balanceAfter,
		transactions: await transactionsById(db, input.userId, result.transactionIds),
		balance: await balanceNow(db, input.userId)
	};
}

export async function revokeUserPackage(
	db: Db,
	input: { actor: Actor; userId: string; packageId: string; reason: string; key: string }
) {
	await mustExist(db, input.userId);
	const result = await adminRevokePackage(db, { ...input, key: `${input.actor.id}:${input.key}` });
	return {
		replayed: result.replayed,
		revoked: result.revoked,
		balanceAfter: result.balanceAfter,
		transactions: await transactionsById(db, input.userId, result.transactionIds),
		balance: await balanceNow(db, input.userId)
	};
}

export interface AdjustPreview {
	before: number;
	after: number;
	available: number;
	/** Why it would be refused, or null when it can go ahead. */
	problem: string | null;
}

/**
 * What an adjustment would do now, for the confirmation step. Advisory: the ledger checks again
 * under the account lock when it is confirmed, and refuses if things changed meanwhile.
 */
export async function previewAdjust(
	db: Db,
	input: { userId: string; action: AdjustMode; amount: number }
): Promise<AdjustPreview> {
	const { balance, available } = await balanceOf(db, input.userId);
	const after =
		input.action === 'add'
			? balance + input.amount
			: input.action === 'subtract'
				? balance - input.amount
				: input.amount;
	const taken = balance - after;
	const problem =
		taken > available
			? `Only ${available} credits can be taken right now (${balance - available} are reserved by replies in progress).`
			: null;
	return { before: balance, after, available, problem };
}
