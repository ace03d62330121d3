import { eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { creditAccount } from '../db/schema';
import { LedgerError } from './errors';

/** A database transaction, as drizzle hands it to `db.transaction`. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** Anything that can run a query: the database or a transaction. */
export type Executor = Db | Tx;

/**
 * Runs one ledger operation for one user: a single database transaction that first locks the
 * user's account row. Every operation takes this lock before touching packages, holds or the
 * ledger, so a user's operations are serialised and always lock in the same order (no deadlocks).
 */
export function withAccountLock<T>(
	db: Db,
	userId: string,
	work: (tx: Tx) => Promise<T>
): Promise<T> {
	return db.transaction(async (tx) => {
		await lockAccount(tx, userId);
		return work(tx);
	});
}

async function lockAccount(tx: Tx, userId: string): Promise<void> {
	const lock = () =>
		tx
			.select({ userId: creditAccount.userId })
			.from(creditAccount)
			.where(eq(creditAccount.userId, userId))
			.for('update');
	if ((await lock()).length === 1) return;
	try {
		await tx.insert(creditAccount).values({ userId }).onConflictDoNothing();
	} catch (error) {
		if (pgErrorCode(error) === '23503') {
			throw new LedgerError('user_not_found', 'This user does not exist.', { userId });
		}
		throw error;
	}
	if ((await lock()).length !== 1) throw new Error(`could not lock the account of ${userId}`);
}

/** The SQLSTATE of a database error, whichever driver raised it (drizzle may wrap it). */
export function pgErrorCode(error: unknown): string | undefined {
	for (let e: unknown = error; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
		const code = (e as { code?: unknown }).code;
		if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
	}
	return undefined;
}

/** The DETAIL of a database error, whichever driver raised it (drizzle may wrap it). */
export function pgErrorDetail(error: unknown): string | undefined {
	for (let e: unknown = error; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
		const detail = (e as { detail?: unknown }).detail;
		if (typeof detail === 'string') return detail;
	}
	return undefined;
}
