import { and, asc, eq, isNull, lte, sql } from 'drizzle-orm';
import { createPackage, type GrantInput } from '../credits/grant';
import { withAccountLock, type Tx } from '../credits/transaction';
import type { Db } from '../db/client';
import { creditAllocation, creditPackage, type CreditAllocationRow } from '../db/schema';
import { frozenAtFor } from './subscriptions';
import { log } from '../log';

/** Grace days after a month's end during which its credits stay valid (as for subscriptions). */
export const ALLOCATION_GRACE_DAYS = 7;
const DAY_MS = 86_400_000;

/**
 * `date` plus `months` calendar months, the day clamped to the target month's last day
 * (31 January + 1 month = 28 or 29 February, not 3 March). Always counted from the same start,
 * so clamping in one month never shifts the following ones.
 */
export function addMonths(date: Date, months: number): Date {
	const target = new Date(
		Date.UTC(
			date.getUTCFullYear(),
			date.getUTCMonth() + months,
			1,
			date.getUTCHours(),
			date.getUTCMinutes(),
			date.getUTCSeconds(),
			date.getUTCMilliseconds()
		)
	);
	const lastDay = new Date(
		Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)
	).getUTCDate();
	target.setUTCDate(Math.min(date.getUTCDate(), lastDay));
	return target;
}

/** When month `n` (1-based) of an allocation starting at `startsAt` is due. */
export function monthStart(startsAt: Date, n: number): Date {
	return addMonths(startsAt, n - 1);
}

/**
 * When month `n`'s package expires: when the next month starts plus the grace days, so a job
 * running a little late never leaves the user without credits; the last month at the end of
 * the paid period (the next period's order brings its own credits).
 */
export function allocationExpiry(startsAt: Date, n: number, months: number): Date {
	if (n >= months) return monthStart(startsAt, months + 1);
	return new Date(monthStart(startsAt, n + 1).getTime() + ALLOCATION_GRACE_DAYS * DAY_MS);
}

export interface AllocatedOrder {
	userId: string;
	orderId: string;
	productId: string;
	subscriptionId: string | null;
	source: 'purchase' | 'subscription';
	name: string;
	credits: number;
	bonusCredits: number;
	dailyLimit: number | null;
	months: number;
	startsAt: Date;
	description: string;
	metadata: Record<string, unknown>;
	now: Date;
}

export type AllocatedOutcome =
	| { outcome: 'granted'; packageId: string | null; allocationId: string; expiresAt: Date }
	| { outcome: 'duplicate'; packageId: string | null };

/**
 * One paid order of a plan allocated monthly (a yearly or lifetime plan): in one transaction,
 * under the user's lock, its `credit_allocation` row and month 1's package. Idempotent by order
 * id: a second call (redelivery, reconciliation) finds the row and grants nothing.
 */
export async function grantAllocatedOrder(
	db: Db,
	order: AllocatedOrder
): Promise<AllocatedOutcome> {
	const { now } = order;
	return withAccountLock(db, order.userId, async (tx) => {
		const [existing] = await tx
			.select({ id: creditAllocation.id })
			.from(creditAllocation)
			.where(eq(creditAllocation.polarOrderId, order.orderId));
		if (existing) {
			const [pkg] = await tx
				.select({ id: creditPackage.id })
				.from(creditPackage)
				.where(eq(creditPackage.polarOrderId, order.orderId));
			return { outcome: 'duplicate', packageId: pkg?.id ?? null };
		}
		const [allocation] = await tx
			.insert(creditAllocation)
			.values({
				userId: order.userId,
				name: order.name,
				credits: order.credits,
				bonusCredits: order.bonusCredits,
				dailyLimit: order.dailyLimit,
				months: order.months,
				monthsGranted: 0,
				startsAt: order.startsAt,
				nextAt: order.startsAt,
				polarOrderId: order.orderId,
				polarProductId: order.productId,
				polarSubscriptionId: order.subscriptionId,
				createdAt: now
			})
			.returning();
		const packageId = await grantMonth(tx, allocation, 1, now, {
			key: `polar-order:${order.orderId}`,
			source: order.source,
			description: order.description,
			metadata: order.metadata,
			orderId: order.orderId
		});
		return {
			outcome: 'granted',
			packageId,
			allocationId: allocation.id,
			expiresAt: allocationExpiry(order.startsAt, 1, order.months)
		};
	});
}

/**
 * Grants every month that is due by `now` on every allocation that is not stopped: month n
 * (2..months) at `starts_at` + (n − 1) calendar months. Safe on any number of instances at once:
 * each allocation is re-read under its user's lock, and (allocation_id, allocation_month) is
 * unique, so a month is granted once. Returns how many packages it granted.
 */
export async function grantDueAllocations(
	db: Db,
	now: Date = new Date(),
	options: { batch?: number } = {}
): Promise<number> {
	const batch = options.batch ?? 100;
	let granted = 0;
	const seen = new Set<string>();
	for (;;) {
		const due = await db
			.select({ id: creditAllocation.id, userId: creditAllocation.userId })
			.from(creditAllocation)
			.where(
				and(
					lte(creditAllocation.nextAt, now),
					isNull(creditAllocation.stoppedAt),
					sql`${creditAllocation.nextAt} is not null`
				)
			)
			.orderBy(asc(creditAllocation.nextAt))
			.limit(batch);
		const fresh = due.filter((row) => !seen.has(row.id));
		if (fresh.length === 0) break;
		for (const row of fresh) {
			seen.add(row.id);
			try {
				granted += await grantDueMonths(db, row.id, row.userId, now);
			} catch (error) {
				// One broken allocation must not hold up everyone else's months; it is retried next run.
				log.error({ err: error }, `[allocations] ${row.id} failed; will retry`);
			}
		}
		if (due.length < batch) break;
	}
	return granted;
}

/** The months of one allocation that are due, under its user's lock. */
async function grantDueMonths(db: Db, id: string, userId: string, now: Date): Promise<number> {
	return withAccountLock(db, userId, async (tx) => {
		const [allocation] = await tx
			.select()
			.from(creditAllocation)
			.where(eq(creditAllocation.id, id))
			.for('update');
		let granted = 0;
		let current = allocation;
		while (
			current &&
			!current.stoppedAt &&
			current.nextAt &&
			current.nextAt.getTime() <= now.getTime() &&
			current.monthsGranted < current.months
		) {
			const n = current.monthsGranted + 1;
			const packageId = await grantMonth(tx, current, n, now, {
				key: `allocation:${current.id}:${n}`,
				source: current.polarSubscriptionId ? 'subscription' : 'purchase',
				description: `${current.name}: month ${n} of ${current.months}`,
				metadata: {
					allocationId: current.id,
					month: n,
					orderId: current.polarOrderId,
					productId: current.polarProductId,
					subscriptionId: current.polarSubscriptionId
				}
			});
			if (packageId) granted++;
			[current] = await tx.select().from(creditAllocation).where(eq(creditAllocation.id, id));
		}
		return granted;
	});
}

/**
 * Grants month `n`'s package (and its bonus) and advances the allocation. A month whose whole
 * validity is already over (the job was down for longer than a month plus the grace days) is
 * counted but grants nothing: those credits could never be spent. Returns the package id.
 */
async function grantMonth(
	tx: Tx,
	allocation: CreditAllocationRow,
	n: number,
	now: Date,
	grant: {
		key: string;
		source: 'purchase' | 'subscription';
		description: string;
		metadata: Record<string, unknown>;
		orderId?: string;
	}
): Promise<string | null> {
	const expiresAt = allocationExpiry(allocation.startsAt, n, allocation.months);
	let packageId: string | null = null;
	if (expiresAt.getTime() > now.getTime()) {
		const input: GrantInput = {
			userId: allocation.userId,
			source: grant.source,
			name: allocation.name,
			credits: allocation.credits,
			expiresAt,
			key: grant.key,
			description: grant.description,
			metadata: grant.metadata,
			polar: {
				orderId: grant.orderId,
				productId: allocation.polarProductId ?? undefined,
				subscriptionId: allocation.polarSubscriptionId ?? undefined
			},
			dailyLimit: allocation.dailyLimit,
			allocation: { id: allocation.id, month: n },
			bonus: allocation.bonusCredits
				? {
						credits: allocation.bonusCredits,
						name: `${allocation.name} bonus`,
						description: `Bonus: +${allocation.bonusCredits} with ${allocation.name}`
					}
				: undefined,
			now
		};
		const created = await createPackage(tx, input, now);
		packageId = created.packageId;
		// A plan pool is spendable only while its subscription is active.
		const frozenAt = await frozenAtFor(tx, allocation.polarSubscriptionId, now);
		if (frozenAt) {
			await tx
				.update(creditPackage)
				.set({ frozenAt })
				.where(
					sql`${creditPackage.id} in (${created.packageId}, ${created.bonus?.packageId ?? created.packageId})`
				);
		}
	}
	await tx
		.update(creditAllocation)
		.set({
			monthsGranted: n,
			nextAt: n < allocation.months ? monthStart(allocation.startsAt, n + 1) : null
		})
		.where(eq(creditAllocation.id, allocation.id));
	return packageId;
}

/**
 * A refunded order's allocation: no further months. Returns the granted months' packages (not
 * their bonus packages), oldest first, for the pro-rata revoke.
 */
export async function stopAllocation(db: Db, orderId: string, now: Date) {
	const [allocation] = await db
		.select({ id: creditAllocation.id, userId: creditAllocation.userId })
		.from(creditAllocation)
		.where(eq(creditAllocation.polarOrderId, orderId));
	if (!allocation) return null;
	return withAccountLock(db, allocation.userId, async (tx) => {
		await tx
			.update(creditAllocation)
			.set({ stoppedAt: now, nextAt: null })
			.where(and(eq(creditAllocation.id, allocation.id), isNull(creditAllocation.stoppedAt)));
		return tx
			.select({
				id: creditPackage.id,
				initialCredits: creditPackage.initialCredits,
				month: creditPackage.allocationMonth
			})
			.from(creditPackage)
			.where(
				and(eq(creditPackage.allocationId, allocation.id), isNull(creditPackage.parentPackageId))
			)
			.orderBy(asc(creditPackage.allocationMonth));
	});
}
