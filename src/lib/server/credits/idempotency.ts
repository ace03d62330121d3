import { eq } from 'drizzle-orm';
import { creditOperation } from '../db/schema';
import { LedgerError } from './errors';
import type { Tx } from './transaction';

/** JSON with sorted keys, so equal arguments always give the same fingerprint. */
export function canonicalJson(value: unknown): string {
	return JSON.stringify(value, (_key, v) =>
		v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)
			? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
			: v
	);
}

export interface Operation {
	key: string;
	userId: string;
	name: string;
	/** The arguments that must match on a replay. */
	args: Record<string, unknown>;
}

/**
 * The stored result of an operation already done under this key, or null when it is new.
 * Throws a conflict when the key was used with different arguments. Call under the account lock.
 */
export async function previousResult<T>(tx: Tx, op: Operation): Promise<T | null> {
	const [row] = await tx.select().from(creditOperation).where(eq(creditOperation.key, op.key));
	if (!row) return null;
	if (
		row.userId !== op.userId ||
		row.operation !== op.name ||
		row.fingerprint !== fingerprint(op)
	) {
		throw new LedgerError(
			'idempotency_conflict',
			'This idempotency key was already used for a different request.',
			{ key: op.key }
		);
	}
	return row.result as T;
}

/** Stores an operation's result under its key, in the same transaction as its writes. */
export async function recordResult(tx: Tx, op: Operation, result: unknown): Promise<void> {
	await tx.insert(creditOperation).values({
		key: op.key,
		userId: op.userId,
		operation: op.name,
		fingerprint: fingerprint(op),
		result
	});
}

function fingerprint(op: Operation): string {
	return canonicalJson(op.args);
}

/** Runs `work` once per key: replays return the first result, and `work` never runs twice. */
export async function once<T>(
	tx: Tx,
	op: Operation,
	work: () => Promise<T>
): Promise<T & { replayed: boolean }> {
	const previous = await previousResult<T>(tx, op);
	if (previous) return { ...previous, replayed: true };
	const result = await work();
	await recordResult(tx, op, result);
	return { ...result, replayed: false };
}
