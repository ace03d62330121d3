import type { Db } from '../db/client';
import { LedgerError } from './errors';
import { assertCredits, createPackage } from './grant';
import { once } from './idempotency';
import { balanceAt, reservedBy, spend } from './ledger';
import { withAccountLock, type Tx } from './transaction';

export type AdjustMode = 'add' | 'subtract' | 'set';

export interface AdjustInput {
	userId: string;
	mode: AdjustMode;
	/** add/subtract: how many; set: the balance wanted. */
	credits: number;
	/** Why; shown in the ledger and required. */
	reason: string;
	/** Who did it, e.g. `{ id, email }` of the admin, or `"cli"`. */
	actor: Record<string, unknown> | string;
	key: string;
	/** For additions: null = never expires. */
	expiresAt?: Date | null;
	/** Runs inside the operation's transaction, once (not on replays): e.g. the admin audit row. */
	within?: (tx: Tx, result: AdjustResult) => Promise<void>;
	now?: Date;
}

export interface AdjustResult {
	/** The signed change actually made. */
	delta: number;
	balanceAfter: number;
	packageId: string | null;
	transactionIds: number[];
}

/**
 * An admin's correction. Additions create an `admin_grant` package; subtractions spend in the
 * usual order but never what pending holds have set aside. Every row says why and who.
 */
export async function adjust(
	db: Db,
	input: AdjustInput
): Promise<AdjustResult & { replayed: boolean }> {
	const now = input.now ?? new Date();
	const reason = input.reason.trim();
	if (!reason) throw new LedgerError('invalid_amount', 'Write a reason for the adjustment.');
	if (input.mode !== 'set') assertCredits(input.credits);
	else if (!Number.isInteger(input.credits) || input.credits < 0) {
		throw new LedgerError(
			'invalid_amount',
			'The balance to set must be a whole number, 0 or more.'
		);
	}
	if (input.expiresAt && input.expiresAt.getTime() <= now.getTime()) {
		throw new LedgerError('invalid_amount', 'Added credits cannot expire in the past.');
	}
	const metadata = { reason, actor: input.actor, mode: input.mode, requested: input.credits };
	const op = {
		key: input.key,
		userId: input.userId,
		name: 'adjust',
		// The reason is part of the request: the same key with another reason is a conflict.
		args: {
			mode: input.mode,
			credits: input.credits,
			reason,
			expiresAt: input.expiresAt?.toISOString() ?? null
		}
	};

	return withAccountLock(db, input.userId, (tx) =>
		once(tx, op, async (): Promise<AdjustResult> => {
			const result = await change(tx);
			await input.within?.(tx, result);
			return result;
		})
	);

	async function change(tx: Tx): Promise<AdjustResult> {
		const balance = await balanceAt(tx, input.userId, now);
		const delta =
			input.mode === 'add'
				? input.credits
				: input.mode === 'subtract'
					? -input.credits
					: input.credits - balance;
		if (delta === 0) return { delta, balanceAfter: balance, packageId: null, transactionIds: [] };

		if (delta > 0) {
			const granted = await createPackage(
				tx,
				{
					userId: input.userId,
					source: 'admin_grant',
					type: 'adjust',
					name: 'Admin adjustment',
					description: reason,
					credits: delta,
					expiresAt: input.expiresAt ?? null,
					key: input.key,
					metadata
				},
				now
			);
			return {
				delta,
				balanceAfter: granted.balanceAfter,
				packageId: granted.packageId,
				transactionIds: [granted.transactionId]
			};
		}

		const available = balance - (await reservedBy(tx, input.userId));
		if (-delta > available) {
			throw new LedgerError(
				'insufficient_credits',
				`Only ${Math.max(0, available)} credits can be taken right now.`,
				{ balance, available: Math.max(0, available) }
			);
		}
		const spent = await spend(tx, {
			userId: input.userId,
			amount: -delta,
			key: input.key,
			now,
			type: 'adjust',
			description: reason,
			metadata
		});
		return {
			delta,
			balanceAfter: spent.balanceAfter,
			packageId: null,
			transactionIds: spent.transactionIds
		};
	}
}
