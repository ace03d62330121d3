import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { creditHold, type CreditHoldRow } from '../db/schema';
import { LedgerError } from './errors';
import { once } from './idempotency';
import { balanceAt, reservedBy, spend } from './ledger';
import { withAccountLock, type Tx } from './transaction';

export const MIN_HOLD = 1;
export const DEFAULT_HOLD_TTL_MS = 10 * 60_000;

export interface ReserveInput {
	userId: string;
	/** The most credits wanted; the hold takes min(upTo, available). */
	upTo: number;
	key: string;
	chatId?: string | null;
	description?: string;
	ttlMs?: number;
	now?: Date;
}

export interface ReserveResult {
	holdId: string;
	amount: number;
	expiresAt: string;
}

/**
 * Sets credits aside for work in progress (a reply): min(upTo, available), refused with
 * `insufficient_credits` when that is below one credit.
 */
export async function reserve(
	db: Db,
	input: ReserveInput
): Promise<ReserveResult & { replayed: boolean }> {
	const now = input.now ?? new Date();
	if (!Number.isInteger(input.upTo) || input.upTo < MIN_HOLD) {
		throw new LedgerError('invalid_amount', 'A hold must ask for at least one whole credit.');
	}
	const op = {
		key: input.key,
		userId: input.userId,
		name: 'reserve',
		args: { upTo: input.upTo, chatId: input.chatId ?? null }
	};
	return withAccountLock(db, input.userId, (tx) =>
		once(tx, op, async (): Promise<ReserveResult> => {
			const balance = await balanceAt(tx, input.userId, now);
			const available = Math.max(0, balance - (await reservedBy(tx, input.userId)));
			const amount = Math.min(input.upTo, available);
			if (amount < MIN_HOLD) {
				throw new LedgerError('insufficient_credits', 'You have no credits left.', {
					balance,
					available
				});
			}
			const expiresAt = new Date(now.getTime() + (input.ttlMs ?? DEFAULT_HOLD_TTL_MS));
			const [hold] = await tx
				.insert(creditHold)
				.values({
					userId: input.userId,
					amount,
					chatId: input.chatId ?? null,
					description: input.description ?? 'Reply in progress',
					idempotencyKey: input.key,
					expiresAt,
					createdAt: now
				})
				.returning({ id: creditHold.id });
			return { holdId: hold.id, amount, expiresAt: expiresAt.toISOString() };
		})
	);
}

export interface SettleInput {
	holdId: string;
	/** The real cost in credits. */
	cost: number;
	description?: string;
	/** Written on every usage row (tokens, model, chat and message ids, …). */
	metadata?: Record<string, unknown>;
	key?: string;
	now?: Date;
}

export interface SettleResult {
	holdId: string;
	charged: number;
	/** Cost that could not be charged because the balance ran out (recorded in metadata). */
	shortfall: number;
	balanceAfter: number;
	transactionIds: number[];
	packageIds: string[];
}

/**
 * Charges the real cost of a hold and releases the rest. Beyond the hold it charges only what
 * the balance allows without eating into other pending holds; any shortfall is recorded.
 */
export async function settle(
	db: Db,
	input: SettleInput
): Promise<SettleResult & { replayed: boolean }> {
	const now = input.now ?? new Date();
	if (!Number.isInteger(input.cost) || input.cost < 0) {
		throw new LedgerError('invalid_amount', 'A cost must be a whole number of credits, 0 or more.');
	}
	const userId = await ownerOf(db, input.holdId);
	const key = input.key ?? `settle:${input.holdId}`;
	const op = { key, userId, name: 'settle', args: { holdId: input.holdId, cost: input.cost } };
	return withAccountLock(db, userId, (tx) =>
		once(tx, op, async () => {
			const hold = await lockPendingHold(tx, input.holdId);
			return chargeHold(tx, hold, { ...input, key, now });
		})
	);
}

/**
 * Charges a locked, pending hold and resolves it as settled. The caller holds the account lock
 * and has locked the hold (so nothing can change what it owes in between).
 */
export async function chargeHold(
	tx: Tx,
	hold: CreditHoldRow,
	input: {
		cost: number;
		key: string;
		now: Date;
		description?: string;
		metadata?: Record<string, unknown>;
	}
): Promise<SettleResult> {
	const { userId } = hold;
	const balance = await balanceAt(tx, userId, input.now);
	const otherHolds = (await reservedBy(tx, userId)) - hold.amount;
	const charged = Math.max(0, Math.min(input.cost, balance - otherHolds));
	const shortfall = input.cost - charged;
	const metadata = { ...input.metadata, holdId: hold.id, ...(shortfall ? { shortfall } : {}) };
	const spent =
		charged > 0
			? await spend(tx, {
					userId,
					amount: charged,
					key: input.key,
					now: input.now,
					type: 'usage',
					description: input.description ?? hold.description,
					metadata
				})
			: { transactionIds: [], packageIds: [], balanceAfter: balance };
	await resolveHold(tx, hold.id, 'settled', input.now, charged);
	return { holdId: hold.id, charged, shortfall, ...spent };
}

/** Releases a hold without charging anything (an upstream failure before any output). */
export async function voidHold(
	db: Db,
	input: { holdId: string; key?: string; now?: Date }
): Promise<{ holdId: string; status: 'voided'; replayed: boolean }> {
	const now = input.now ?? new Date();
	const userId = await ownerOf(db, input.holdId);
	const key = input.key ?? `void:${input.holdId}`;
	const op = { key, userId, name: 'void', args: { holdId: input.holdId } };
	return withAccountLock(db, userId, (tx) =>
		once(tx, op, async () => {
			const hold = await lockPendingHold(tx, input.holdId);
			await resolveHold(tx, hold.id, 'voided', now, 0);
			return { holdId: hold.id, status: 'voided' as const };
		})
	);
}

/**
 * Records what a pending hold is known to owe so far (e.g. tokens streamed), so that the
 * sweeper can charge it if the process dies before settling. Only ever raises the figure.
 */
export async function recordOwed(db: Db, holdId: string, owed: number): Promise<void> {
	await db
		.update(creditHold)
		.set({
			owedCredits: sql`greatest(${creditHold.owedCredits}, least(${owed}, ${creditHold.amount}))`
		})
		.where(and(eq(creditHold.id, holdId), eq(creditHold.status, 'pending')));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function ownerOf(db: Db, holdId: string): Promise<string> {
	if (!UUID.test(holdId))
		throw new LedgerError('hold_not_found', 'This hold does not exist.', { holdId });
	const [hold] = await db
		.select({ userId: creditHold.userId })
		.from(creditHold)
		.where(eq(creditHold.id, holdId));
	if (!hold) throw new LedgerError('hold_not_found', 'This hold does not exist.', { holdId });
	return hold.userId;
}

async function lockPendingHold(tx: Tx, holdId: string) {
	const [hold] = await tx.select().from(creditHold).where(eq(creditHold.id, holdId)).for('update');
	if (!hold) throw new LedgerError('hold_not_found', 'This hold does not exist.', { holdId });
	if (hold.status !== 'pending') {
		throw new LedgerError('hold_already_resolved', `This hold was already ${hold.status}.`, {
			holdId,
			status: hold.status
		});
	}
	return hold;
}

export async function resolveHold(
	tx: Tx,
	holdId: string,
	status: 'settled' | 'voided' | 'expired',
	now: Date,
	charged: number
): Promise<void> {
	const updated = await tx
		.update(creditHold)
		.set({ status, chargedCredits: charged, resolvedAt: now })
		.where(and(eq(creditHold.id, holdId), eq(creditHold.status, 'pending')))
		.returning({ id: creditHold.id });
	if (updated.length !== 1) throw new Error(`hold ${holdId} changed under its lock`);
}
