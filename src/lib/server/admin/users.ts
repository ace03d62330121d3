import { and, asc, count, desc, eq, gt, ilike, inArray, or, sql, type SQL } from 'drizzle-orm';
import {
	countsAt,
	balanceOf,
	packageStatus,
	pendingHoldsOf,
	toTransactionView,
	type PackageStatus
} from '../credits';
import { escapeLike } from '../text';
import type { Db } from '../db/client';
import {
	chat,
	creditHold,
	creditPackage,
	creditTransaction,
	session,
	user,
	type transactionTypes
} from '../db/schema';

/** Longest search text; longer input is refused by the routes' schemas, not cut. */
export const MAX_QUERY_LENGTH = 100;
export const MAX_PAGE_SIZE = 100;

export interface AdminUserSummary {
	id: string;
	email: string;
	name: string;
	role: string;
	banned: boolean;
	/** Credits in live packages (not expired, credits left), as the ledger counts them. */
	balance: number;
	/** balance - reserved, never below 0. */
	available: number;
	/** Credits set aside by pending holds (replies in progress). */
	reserved: number;
	/** Credits granted by purchases and subscription cycles (refunds are not deducted). */
	purchased: number;
	/** Credits charged for replies (the `usage` ledger rows). */
	spent: number;
	createdAt: string;
	/**
	 * The latest of: a session created or refreshed (better-auth refreshes a session at most once a
	 * day while it is used) and a ledger row of the user (a reply, a purchase, an adjustment).
	 * Null for a user with neither.
	 */
	lastActiveAt: string | null;
}

export interface UserSearch {
	/** Part of the email or name, any case. */
	q?: string;
	/** The `nextCursor` of the previous page: the last email shown. */
	cursor?: string;
	limit?: number;
	now?: Date;
}

export interface UserPage {
	items: AdminUserSummary[];
	/** Pass back as `cursor` for the next page; null on the last one. */
	nextCursor: string | null;
}

const PURCHASE_SOURCES = ['purchase', 'subscription'] as const;
const USAGE: (typeof transactionTypes)[number] = 'usage';
/** ISO text in UTC: the same string on postgres.js and PGlite, whatever the server's time zone. */
const isoText = (value: SQL) =>
	sql`to_char(${value} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * One SELECT for a page of users with their credit figures: each figure is a correlated
 * subquery over that user's rows (indexed by user id), evaluated only for the rows of the page.
 */
function summaryQuery(db: Db, now: Date) {
	// better-auth's session times are `timestamp` without zone, written in UTC.
	const lastSession = sql`(select max(${session.updatedAt}) at time zone 'UTC' from ${session} where ${eq(session.userId, user.id)})`;
	const lastLedger = sql`(select max(${creditTransaction.createdAt}) from ${creditTransaction} where ${eq(creditTransaction.userId, user.id)})`;
	return db
		.select({
			id: user.id,
			email: user.email,
			name: user.name,
			role: user.role,
			banned: user.banned,
			createdAt: user.createdAt,
			balance:
				sql<number>`coalesce((select sum(${creditPackage.remainingCredits}) from ${creditPackage} where ${countsAt(user.id, now)}), 0)`.mapWith(
					Number
				),
			reserved:
				sql<number>`coalesce((select sum(${creditHold.amount}) from ${creditHold} where ${pendingHoldsOf(user.id)}), 0)`.mapWith(
					Number
				),
			purchased:
				sql<number>`coalesce((select sum(${creditPackage.initialCredits}) from ${creditPackage} where ${and(eq(creditPackage.userId, user.id), inArray(creditPackage.source, [...PURCHASE_SOURCES]))}), 0)`.mapWith(
					Number
				),
			spent:
				sql<number>`coalesce((select -sum(${creditTransaction.amount}) from ${creditTransaction} where ${and(eq(creditTransaction.userId, user.id), eq(creditTransaction.type, USAGE))}), 0)`.mapWith(
					Number
				),
			lastActiveAt: sql<string | null>`${isoText(sql`greatest(${lastSession}, ${lastLedger})`)}`
		})
		.from(user);
}

type SummaryRow = Awaited<ReturnType<ReturnType<typeof summaryQuery>['where']>>[number];

function toSummary(row: SummaryRow): AdminUserSummary {
	return {
		id: row.id,
		email: row.email,
		name: row.name,
		role: row.role ?? 'user',
		banned: row.banned ?? false,
		balance: row.balance,
		reserved: row.reserved,
		available: Math.max(0, row.balance - row.reserved),
		purchased: row.purchased,
		spent: row.spent,
		createdAt: row.createdAt.toISOString(),
		lastActiveAt: row.lastActiveAt
	};
}

/**
 * Users whose email or name contains `q` (any case; a prefix is a substring too), by email.
 * Pages are keyed on the email, which is unique, so a page costs the same at any depth.
 */
export async function searchUsers(db: Db, search: UserSearch = {}): Promise<UserPage> {
	const limit = search.limit ?? 50;
	const conditions: SQL[] = [];
	const q = search.q?.trim();
	if (q) {
		const pattern = `%${escapeLike(q)}%`;
		conditions.push(or(ilike(user.email, pattern), ilike(user.name, pattern))!);
	}
	if (search.cursor) conditions.push(gt(user.email, search.cursor));
	const rows = await summaryQuery(db, search.now ?? new Date())
		.where(and(...conditions))
		.orderBy(asc(user.email))
		.limit(limit + 1);
	const items = rows.slice(0, limit).map(toSummary);
	return {
		items,
		nextCursor: rows.length > limit ? items[items.length - 1].email : null
	};
}

export interface AdminPackageView {
	id: string;
	source: string;
	name: string;
	initialCredits: number;
	remainingCredits: number;
	revokedCredits: number;
	expiredCredits: number;
	status: PackageStatus;
	expiresAt: string | null;
	createdAt: string;
}

export interface AdminHoldView {
	id: string;
	amount: number;
	chatId: string | null;
	description: string;
	expiresAt: string;
	createdAt: string;
}

export interface AdminUserDetail {
	user: AdminUserSummary & {
		emailVerified: boolean;
		banReason: string | null;
		banExpires: string | null;
	};
	/** Every package the user ever had, live ones first, then by spend order. */
	packages: AdminPackageView[];
	/** Pending holds: replies in progress. */
	holds: AdminHoldView[];
	chatCount: number;
	/** When the user's packages next lose credits to expiry, for the balance card. */
	nextExpiry: { credits: number; expiresAt: string } | null;
}

/** One user with everything an admin looks at, or null for an unknown id. */
export async function userDetail(
	db: Db,
	userId: string,
	now = new Date()
): Promise<AdminUserDetail | null> {
	const [[row], [extra], packages, holds, [chats]] = await Promise.all([
		summaryQuery(db, now).where(eq(user.id, userId)),
		db
			.select({
				emailVerified: user.emailVerified,
				banReason: user.banReason,
				banExpires: user.banExpires
			})
			.from(user)
			.where(eq(user.id, userId)),
		db
			.select()
			.from(creditPackage)
			.where(eq(creditPackage.userId, userId))
			.orderBy(
				sql`${creditPackage.expiresAt} asc nulls last`,
				asc(creditPackage.createdAt),
				asc(creditPackage.id)
			),
		db.select().from(creditHold).where(pendingHoldsOf(userId)).orderBy(desc(creditHold.createdAt)),
		db.select({ n: count() }).from(chat).where(eq(chat.userId, userId))
	]);
	if (!row || !extra) return null;
	const views = packages.map((pkg) => ({
		id: pkg.id,
		source: pkg.source,
		name: pkg.name,
		initialCredits: pkg.initialCredits,
		remainingCredits: pkg.remainingCredits,
		revokedCredits: pkg.revokedCredits,
		expiredCredits: pkg.expiredCredits,
		status: packageStatus(pkg, now),
		expiresAt: pkg.expiresAt?.toISOString() ?? null,
		createdAt: pkg.createdAt.toISOString()
	}));
	const expiring = views.find((pkg) => pkg.status === 'active' && pkg.expiresAt !== null);
	return {
		user: {
			...toSummary(row),
			emailVerified: extra.emailVerified,
			banReason: extra.banReason,
			banExpires: extra.banExpires?.toISOString() ?? null
		},
		// Active first; within each group the spend order the query gave.
		packages: [
			...views.filter((pkg) => pkg.status === 'active'),
			...views.filter((pkg) => pkg.status !== 'active')
		],
		holds: holds.map((hold) => ({
			id: hold.id,
			amount: hold.amount,
			chatId: hold.chatId,
			description: hold.description,
			expiresAt: hold.expiresAt.toISOString(),
			createdAt: hold.createdAt.toISOString()
		})),
		chatCount: chats?.n ?? 0,
		nextExpiry: expiring
			? { credits: expiring.remainingCredits, expiresAt: expiring.expiresAt! }
			: null
	};
}

/** The ledger rows with these ids (what one admin action wrote), oldest first. */
export async function transactionsById(db: Db, userId: string, ids: number[]) {
	if (ids.length === 0) return [];
	const rows = await db
		.select()
		.from(creditTransaction)
		.where(and(eq(creditTransaction.userId, userId), inArray(creditTransaction.id, ids)))
		.orderBy(asc(creditTransaction.id));
	return rows.map(toTransactionView);
}

/** Balance, reserved and available now: the ledger's own view. */
export async function balanceNow(db: Db, userId: string) {
	const { balance, reserved, available } = await balanceOf(db, userId);
	return { balance, reserved, available };
}

/** True when the user exists (routes answer 404 before doing anything else). */
export async function userExists(db: Db, userId: string): Promise<boolean> {
	const [row] = await db.select({ id: user.id }).from(user).where(eq(user.id, userId));
	return Boolean(row);
}
