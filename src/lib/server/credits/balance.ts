import { and, desc, eq, gt, inArray, isNull, lt, or, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client';
import { creditPackage, creditTransaction, transactionTypes } from '../db/schema';
import { isExpired } from './allocation';
import { reservedBy } from './ledger';
import { packageStatus, type PackageStatus } from './status';

/** How long ended packages stay on the list. */
export const ENDED_PACKAGES_DAYS = 90;

export interface PackageView {
	id: string;
	source: string;
	name: string;
	initialCredits: number;
	remainingCredits: number;
	status: PackageStatus;
	expiresAt: string | null;
	createdAt: string;
}

export interface BalanceView {
	userId: string;
	/** Credits in packages that have not expired. */
	balance: number;
	/** Credits set aside by replies in progress. */
	reserved: number;
	/** What a new reply may use: balance - reserved, never below 0. */
	available: number;
	/** Packages that count, then ended ones from the last 90 days. */
	packages: PackageView[];
}

/**
 * A user's balance and packages. The balance is the sum of `remaining_credits` over the user's
 * live packages (a handful of rows), never a sum over the ledger.
 */
export async function balanceOf(db: Db, userId: string, now = new Date()): Promise<BalanceView> {
	const endedSince = new Date(now.getTime() - ENDED_PACKAGES_DAYS * 86_400_000);
	const [packages, reserved] = await Promise.all([
		db
			.select()
			.from(creditPackage)
			.where(
				and(
					eq(creditPackage.userId, userId),
					or(
						and(
							gt(creditPackage.remainingCredits, 0),
							or(isNull(creditPackage.expiresAt), gt(creditPackage.expiresAt, now))
						),
						gt(creditPackage.createdAt, endedSince),
						gt(creditPackage.expiresAt, endedSince)
					)
				)
			),
		reservedBy(db, userId)
	]);
	const live = packages.filter((pkg) => pkg.remainingCredits > 0 && !isExpired(pkg, now));
	const balance = live.reduce((total, pkg) => total + pkg.remainingCredits, 0);
	const views = packages
		.map((pkg) => ({
			id: pkg.id,
			source: pkg.source,
			name: pkg.name,
			initialCredits: pkg.initialCredits,
			remainingCredits: isExpired(pkg, now) ? 0 : pkg.remainingCredits,
			status: packageStatus(pkg, now),
			expiresAt: pkg.expiresAt?.toISOString() ?? null,
			createdAt: pkg.createdAt.toISOString(),
			order: pkg
		}))
		.sort((a, b) => rank(a.status) - rank(b.status) || byExpiry(a.order, b.order))
		.map(({ order: _order, ...view }) => view);
	return { userId, balance, reserved, available: Math.max(0, balance - reserved), packages: views };
}

function rank(status: PackageStatus): number {
	return status === 'active' ? 0 : 1;
}

function byExpiry(
	a: { expiresAt: Date | null; createdAt: Date },
	b: { expiresAt: Date | null; createdAt: Date }
) {
	const ax = a.expiresAt?.getTime() ?? Infinity;
	const bx = b.expiresAt?.getTime() ?? Infinity;
	return ax - bx || a.createdAt.getTime() - b.createdAt.getTime();
}

export type TransactionType = (typeof transactionTypes)[number];

export interface TransactionView {
	id: string;
	type: TransactionType;
	amount: number;
	balanceAfter: number;
	packageId: string | null;
	description: string;
	metadata: Record<string, unknown>;
	createdAt: string;
}

export interface TransactionPage {
	items: TransactionView[];
	/** Pass back as `cursor` for the next (older) page; null on the last page. */
	nextCursor: string | null;
}

/**
 * A user's ledger, newest first, keyset-paginated on the row id: a page boundary never moves
 * when new rows arrive, and a deep page costs the same as the first.
 */
export async function listTransactions(
	db: Db,
	userId: string,
	options: { limit: number; cursor?: number | null; types?: TransactionType[] }
): Promise<TransactionPage> {
	const conditions: SQL[] = [eq(creditTransaction.userId, userId)];
	if (options.cursor) conditions.push(lt(creditTransaction.id, options.cursor));
	if (options.types?.length) conditions.push(inArray(creditTransaction.type, options.types));
	const rows = await db
		.select()
		.from(creditTransaction)
		.where(and(...conditions))
		.orderBy(desc(creditTransaction.id))
		.limit(options.limit + 1);
	const page = rows.slice(0, options.limit);
	return {
		items: page.map((row) => ({
			id: String(row.id),
			type: row.type,
			amount: row.amount,
			balanceAfter: row.balanceAfter,
			packageId: row.packageId,
			description: row.description,
			metadata: row.metadata,
			createdAt: row.createdAt.toISOString()
		})),
		nextCursor: rows.length > options.limit ? String(page[page.length - 1].id) : null
	};
}
