import { asc, eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { creditPackage, creditTransaction, type CreditPackageRow } from '../db/schema';
import { isExpired } from './allocation';

export interface Drift {
	userId: string;
	packageId?: string;
	transactionId?: number;
	problem: string;
	expected?: number;
	actual?: number;
}

export interface VerifyReport {
	users: number;
	packages: number;
	transactions: number;
	drifts: Drift[];
}

/**
 * Replays every user's ledger and checks it against the packages: each package's remaining
 * credits equal the sum of its rows, stay within 0..initial, and each row's `balance_after` is
 * the balance the replay reaches at that row (live packages at the row's time).
 */
export async function verify(db: Db, options: { userId?: string } = {}): Promise<VerifyReport> {
	const packages = await db
		.select()
		.from(creditPackage)
		.where(options.userId ? eq(creditPackage.userId, options.userId) : undefined);
	const transactions = await db
		.select({
			id: creditTransaction.id,
			userId: creditTransaction.userId,
			packageId: creditTransaction.packageId,
			type: creditTransaction.type,
			amount: creditTransaction.amount,
			balanceAfter: creditTransaction.balanceAfter,
			createdAt: creditTransaction.createdAt
		})
		.from(creditTransaction)
		.where(options.userId ? eq(creditTransaction.userId, options.userId) : undefined)
		.orderBy(asc(creditTransaction.id));

	const drifts: Drift[] = [];
	const byUser = new Map<
		string,
		{ packages: Map<string, CreditPackageRow>; replayed: Map<string, number> }
	>();
	const userState = (userId: string) => {
		let state = byUser.get(userId);
		if (!state) byUser.set(userId, (state = { packages: new Map(), replayed: new Map() }));
		return state;
	};
	for (const pkg of packages) userState(pkg.userId).packages.set(pkg.id, pkg);

	const replayedBalance = (
		state: { packages: Map<string, CreditPackageRow>; replayed: Map<string, number> },
		at: Date
	) =>
		[...state.replayed].reduce((total, [id, credits]) => {
			const pkg = state.packages.get(id)!;
			return isExpired(pkg, at) ? total : total + credits;
		}, 0);
	for (const row of transactions) {
		const state = userState(row.userId);
		// A reply a membership paid for: metered at 0 credits, on no package; it records the
		// balance as it stood.
		const membershipRow = row.packageId === null && row.type === 'usage' && row.amount === 0;
		if (!membershipRow && (!row.packageId || !state.packages.has(row.packageId))) {
			drifts.push({
				userId: row.userId,
				transactionId: row.id,
				problem: 'row without a package of this user'
			});
			continue;
		}
		if (row.packageId) {
			const remaining = (state.replayed.get(row.packageId) ?? 0) + row.amount;
			state.replayed.set(row.packageId, remaining);
		}
		const balance = replayedBalance(state, row.createdAt);
		if (balance !== row.balanceAfter) {
			drifts.push({
				userId: row.userId,
				transactionId: row.id,
				problem: 'balance_after differs from the replayed balance',
				expected: balance,
				actual: row.balanceAfter
			});
		}
	}

	for (const [userId, state] of byUser) {
		for (const pkg of state.packages.values()) {
			const replayed = state.replayed.get(pkg.id) ?? 0;
			if (replayed !== pkg.remainingCredits) {
				drifts.push({
					userId,
					packageId: pkg.id,
					problem: 'remaining_credits differs from the sum of its ledger rows',
					expected: replayed,
					actual: pkg.remainingCredits
				});
			}
			if (pkg.remainingCredits < 0 || pkg.remainingCredits > pkg.initialCredits) {
				drifts.push({
					userId,
					packageId: pkg.id,
					problem: 'remaining_credits outside 0..initial',
					actual: pkg.remainingCredits
				});
			}
		}
	}
	return {
		users: byUser.size,
		packages: packages.length,
		transactions: transactions.length,
		drifts
	};
}
