import { and, eq, gt, isNull, or } from 'drizzle-orm';
import type { Db } from '../db/client';
import { creditPackage } from '../db/schema';
import { isExpired } from './allocation';
import { givenToday, roomOf } from './daily-limit';
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
	/** Credits it may give per UTC day (a plan pool); absent = no limit. */
	dailyLimit?: number;
	/** With a daily limit: what it may still give today (0 while frozen). */
	todayRemaining?: number;
}

export interface BalanceView {
	userId: string;
	/** Credits in packages that have not expired (frozen and daily-limited ones included). */
	balance: number;
	/** Credits that may be spent now: not frozen, within today's daily limits. */
	spendable: number;
	/** Credits set aside by replies in progress. */
	reserved: number;
	/** What a new reply may use: spendable - reserved, never below 0. */
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
	const given = await givenToday(
		db,
		packages.filter((pkg) => pkg.dailyLimit !== null).map((pkg) => pkg.id),
		now
	);
	const rooms = new Map(live.map((pkg) => [pkg.id, roomOf(pkg, given.get(pkg.id) ?? 0)]));
	const spendable = [...rooms.values()].reduce((total, room) => total + room, 0);
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
			// Only plan pools carry these, so other packages read as they always did.
			...(pkg.dailyLimit === null
				? {}
				: { dailyLimit: pkg.dailyLimit, todayRemaining: rooms.get(pkg.id) ?? 0 }),
			order: pkg
		}))
		.sort((a, b) => rank(a.status) - rank(b.status) || byExpiry(a.order, b.order))
		.map(({ order: _order, ...view }) => view);
	return {
		userId,
		balance,
		spendable,
		reserved,
		available: Math.max(0, spendable - reserved),
		packages: views
	};
}

function rank(status: PackageStatus): number {
	return status === 'active' ? 0 : status === 'frozen' ? 1 : 2;
}

function byExpiry(
	a: { expiresAt: Date | null; createdAt: Date },
	b: { expiresAt: Date | null; createdAt: Date }
) {
	const ax = a.expiresAt?.getTime() ?? Infinity;
	const bx = b.expiresAt?.getTime() ?? Infinity;
	return ax - bx || a.createdAt.getTime() - b.createdAt.getTime();
}
