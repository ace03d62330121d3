import { and, asc, eq, gte, inArray, lt, sql, sum } from 'drizzle-orm';
import { creditPackage, creditTransaction } from '../db/schema';
import { countsAt } from './ledger';
import type { Executor } from './transaction';

const DAY = 86_400_000;

/** Midnight UTC of `now`'s day and of the next: the window a daily limit counts in. */
export function utcDayOf(now: Date): { start: Date; end: Date } {
	const start = Math.floor(now.getTime() / DAY) * DAY;
	return { start: new Date(start), end: new Date(start + DAY) };
}

/** A package as the spend path needs it: its credits and what it may still give today. */
export interface SpendingPackage {
	id: string;
	remainingCredits: number;
	expiresAt: Date | null;
	createdAt: Date;
	dailyLimit: number | null;
	frozenAt: Date | null;
	/** Credits it may give now: 0 when frozen, at most its daily limit less what it gave today. */
	room: number;
}

/**
 * Credits each package gave today (UTC) through usage rows: what its daily limit counts. One
 * range of `credit_transaction_package_idx (package_id, created_at)` per package.
 */
export async function givenToday(
	db: Executor,
	packageIds: string[],
	now: Date
): Promise<Map<string, number>> {
	const given = new Map<string, number>();
	if (packageIds.length === 0) return given;
	const { start, end } = utcDayOf(now);
	const rows = await db
		.select({
			packageId: creditTransaction.packageId,
			total: sum(sql`-${creditTransaction.amount}`).mapWith(Number)
		})
		.from(creditTransaction)
		.where(
			and(
				inArray(creditTransaction.packageId, packageIds),
				eq(creditTransaction.type, 'usage'),
				gte(creditTransaction.createdAt, start),
				lt(creditTransaction.createdAt, end)
			)
		)
		.groupBy(creditTransaction.packageId);
	for (const row of rows) if (row.packageId) given.set(row.packageId, row.total ?? 0);
	return given;
}

/** What a package may give now, given what it gave today: the rule of issue 13's plan pools. */
export function roomOf(
	pkg: { remainingCredits: number; dailyLimit: number | null; frozenAt: Date | null },
	givenTodayCredits: number
): number {
	if (pkg.frozenAt !== null) return 0;
	if (pkg.dailyLimit === null) return pkg.remainingCredits;
	return Math.max(0, Math.min(pkg.remainingCredits, pkg.dailyLimit - givenTodayCredits));
}

/**
 * The user's packages that count towards the balance at `now` (not expired, credits left), in
 * spend order, each with its room now. With `lock`, they are locked in that order (the caller
 * holds the account lock).
 */
export async function packagesWithRoom(
	db: Executor,
	userId: string,
	now: Date,
	options: { lock?: boolean } = {}
): Promise<SpendingPackage[]> {
	const query = db
		.select({
			id: creditPackage.id,
			remainingCredits: creditPackage.remainingCredits,
			expiresAt: creditPackage.expiresAt,
			createdAt: creditPackage.createdAt,
			dailyLimit: creditPackage.dailyLimit,
			frozenAt: creditPackage.frozenAt
		})
		.from(creditPackage)
		.where(countsAt(userId, now))
		.orderBy(
			sql`${creditPackage.expiresAt} asc nulls last`,
			asc(creditPackage.createdAt),
			asc(creditPackage.id)
		);
	const packages = options.lock ? await query.for('update') : await query;
	const limited = packages.filter((pkg) => pkg.dailyLimit !== null && pkg.frozenAt === null);
	const given = await givenToday(
		db,
		limited.map((pkg) => pkg.id),
		now
	);
	return packages.map((pkg) => ({ ...pkg, room: roomOf(pkg, given.get(pkg.id) ?? 0) }));
}

/** Credits the user could spend now: not frozen, within today's daily limits. */
export async function spendableAt(db: Executor, userId: string, now: Date): Promise<number> {
	const packages = await packagesWithRoom(db, userId, now);
	return packages.reduce((total, pkg) => total + pkg.room, 0);
}
