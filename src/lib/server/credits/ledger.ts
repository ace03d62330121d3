import { and, eq, gt, gte, isNull, or, sql, sum, type AnyColumn } from 'drizzle-orm';
import { creditHold, creditPackage, creditTransaction, type transactionTypes } from '../db/schema';
import { allocate } from './allocation';
import { packagesWithRoom } from './daily-limit';
import type { Executor, Tx } from './transaction';

export type TransactionType = (typeof transactionTypes)[number];

/** A ledger row about to be written; `balanceAfter` and the row key are filled in here. */
export interface LedgerEntry {
	packageId: string;
	type: TransactionType;
	amount: number;
	description: string;
	metadata?: Record<string, unknown>;
	/** False for rows on an expired package: it no longer counts, so the balance stays put. */
	changesBalance?: boolean;
}

/**
 * Packages that count towards the balance at `now`: not expired, credits left. `userId` may be a
 * column (the admin user list sums it per row), so the formula lives in this one place.
 */
export function countsAt(userId: string | AnyColumn, now: Date) {
	return and(
		eq(creditPackage.userId, userId),
		gt(creditPackage.remainingCredits, 0),
		or(isNull(creditPackage.expiresAt), gt(creditPackage.expiresAt, now))
	);
}

/** The user's balance at `now`: credits left in packages that have not expired. */
export async function balanceAt(tx: Executor, userId: string, now: Date): Promise<number> {
	const [row] = await tx
		.select({ total: sum(creditPackage.remainingCredits).mapWith(Number) })
		.from(creditPackage)
		.where(countsAt(userId, now));
	return row?.total ?? 0;
}

/** Holds that set credits aside: the user's pending ones (`userId` may be a column). */
export function pendingHoldsOf(userId: string | AnyColumn) {
	return and(eq(creditHold.userId, userId), eq(creditHold.status, 'pending'));
}

/** Credits set aside by the user's pending holds. */
export async function reservedBy(tx: Executor, userId: string): Promise<number> {
	const [row] = await tx
		.select({ total: sum(creditHold.amount).mapWith(Number) })
		.from(creditHold)
		.where(pendingHoldsOf(userId));
	return row?.total ?? 0;
}

/**
 * What a new reply may set aside at `now`: credits spendable now (not frozen, within today's
 * daily limits) less what pending holds set aside, never below 0. The balance (`balanceAt`)
 * also counts frozen and daily-limited credits: they are the user's, just not spendable now.
 */
export async function availableAt(
	tx: Executor,
	userId: string,
	now: Date
): Promise<{ balance: number; spendable: number; reserved: number; available: number }> {
	const packages = await packagesWithRoom(tx, userId, now);
	const balance = packages.reduce((total, pkg) => total + pkg.remainingCredits, 0);
	const spendable = packages.reduce((total, pkg) => total + pkg.room, 0);
	const reserved = await reservedBy(tx, userId);
	return { balance, spendable, reserved, available: Math.max(0, spendable - reserved) };
}

/**
 * Appends ledger rows for one operation, in order. `balanceBefore` is the balance before the
 * first row; each row records the balance it produced. Keys are `<operation key>#<n>`.
 */
export async function appendEntries(
	tx: Tx,
	options: { userId: string; key: string; now: Date; balanceBefore: number },
	entries: LedgerEntry[]
): Promise<{ transactionIds: number[]; balanceAfter: number }> {
	let balance = options.balanceBefore;
	if (entries.length === 0) return { transactionIds: [], balanceAfter: balance };
	const rows = entries.map((entry, index) => {
		if (entry.changesBalance !== false) balance += entry.amount;
		return {
			userId: options.userId,
			packageId: entry.packageId,
			type: entry.type,
			amount: entry.amount,
			balanceAfter: balance,
			description: entry.description,
			metadata: entry.metadata ?? {},
			idempotencyKey: `${options.key}#${index}`,
			createdAt: options.now
		};
	});
	const inserted = await tx
		.insert(creditTransaction)
		.values(rows)
		.returning({ id: creditTransaction.id });
	return { transactionIds: inserted.map((row) => row.id), balanceAfter: balance };
}

/**
 * Takes `amount` credits from the user's packages in spend order (soonest expiry first),
 * writing one ledger row per package touched. The caller has checked that the balance covers
 * it and holds the account lock; packages are locked here in spend order. With `spendableOnly`
 * (what a reply spends) frozen packages are skipped and a daily-limited one gives at most its
 * room today; without it (an admin's correction) every package that counts may be taken from.
 */
export async function spend(
	tx: Tx,
	options: {
		userId: string;
		amount: number;
		key: string;
		now: Date;
		type: TransactionType;
		description: string;
		metadata?: Record<string, unknown>;
		spendableOnly?: boolean;
	}
): Promise<{ transactionIds: number[]; balanceAfter: number; packageIds: string[] }> {
	const { userId, amount, now } = options;
	const packages = await packagesWithRoom(tx, userId, now, { lock: true });
	const balanceBefore = packages.reduce((total, pkg) => total + pkg.remainingCredits, 0);
	const allocations = allocate(
		options.spendableOnly ? packages : packages.map(({ room: _room, ...pkg }) => pkg),
		amount,
		now
	);
	const taken = allocations.reduce((total, a) => total + a.credits, 0);
	if (taken !== amount) {
		throw new Error(`spend of ${amount} found only ${taken} credits; the caller must check first`);
	}

	for (const { packageId, credits } of allocations) {
		const updated = await tx
			.update(creditPackage)
			.set({ remainingCredits: sql`${creditPackage.remainingCredits} - ${credits}` })
			.where(and(eq(creditPackage.id, packageId), gte(creditPackage.remainingCredits, credits)))
			.returning({ id: creditPackage.id });
		if (updated.length !== 1) throw new Error(`package ${packageId} changed under its lock`);
	}

	const written = await appendEntries(
		tx,
		{ userId, key: options.key, now, balanceBefore },
		allocations.map(({ packageId, credits }) => ({
			packageId,
			type: options.type,
			amount: -credits,
			description: options.description,
			metadata: options.metadata
		}))
	);
	return { ...written, packageIds: allocations.map((a) => a.packageId) };
}
