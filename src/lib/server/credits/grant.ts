import { eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { creditPackage, type packageSources } from '../db/schema';
import { LedgerError } from './errors';
import { once } from './idempotency';
import { appendEntries, balanceAt, type LedgerEntry, type TransactionType } from './ledger';
import { withAccountLock, type Tx } from './transaction';

export type PackageSource = (typeof packageSources)[number];

const TYPE_OF_SOURCE: Record<PackageSource, TransactionType> = {
	signup_bonus: 'bonus',
	purchase: 'purchase',
	subscription: 'subscription',
	admin_grant: 'grant',
	bonus: 'bonus',
	free_monthly: 'bonus'
};

export const MAX_CREDITS = 1_000_000_000;

export interface GrantInput {
	userId: string;
	source: PackageSource;
	name: string;
	credits: number;
	/** null = never expires. */
	expiresAt: Date | null;
	/** Idempotency key: the same key with the same arguments returns the first result. */
	key: string;
	description?: string;
	metadata?: Record<string, unknown>;
	/** Overrides the ledger row type (admin adjustments write `adjust`). */
	type?: TransactionType;
	polar?: { orderId?: string; productId?: string; subscriptionId?: string };
	/** Credits the package may give per UTC day (a plan pool); absent = no limit. */
	dailyLimit?: number | null;
	/** A month of an allocation schedule (a yearly plan allocated monthly). */
	allocation?: { id: string; month: number };
	/** A `free_monthly` package: its UTC month, `YYYY-MM`. */
	freeMonth?: string;
	/**
	 * Bonus credits granted with it (product metadata `bonus_credits`): a second package of source
	 * `bonus`, same expiry, linked by `parent_package_id`, in the same transaction.
	 */
	bonus?: { credits: number; name: string; description?: string };
	now?: Date;
}

export interface GrantResult {
	packageId: string;
	transactionId: number;
	balanceAfter: number;
	/** The bonus package, when one was granted with it. */
	bonus?: { packageId: string; transactionId: number };
}

/** Creates a package of credits for a user and its ledger row. */
export async function grant(
	db: Db,
	input: GrantInput
): Promise<GrantResult & { replayed: boolean }> {
	const now = input.now ?? new Date();
	assertCredits(input.credits);
	if (input.bonus) assertCredits(input.bonus.credits);
	if (input.dailyLimit != null) assertCredits(input.dailyLimit);
	if (!input.name.trim()) throw new LedgerError('invalid_amount', 'A package needs a name.');
	if (input.expiresAt && input.expiresAt.getTime() <= now.getTime()) {
		throw new LedgerError('invalid_amount', 'A package cannot expire before it is granted.');
	}
	const op = {
		key: input.key,
		userId: input.userId,
		name: 'grant',
		args: {
			source: input.source,
			name: input.name,
			credits: input.credits,
			expiresAt: input.expiresAt?.toISOString() ?? null,
			polar: input.polar ?? null,
			type: input.type ?? null,
			dailyLimit: input.dailyLimit ?? null,
			allocation: input.allocation ?? null,
			freeMonth: input.freeMonth ?? null,
			bonus: input.bonus?.credits ?? null
		}
	};
	return withAccountLock(db, input.userId, (tx) =>
		once(tx, op, () => createPackage(tx, input, now))
	);
}

/** Inserts the package and its ledger row; the caller holds the account lock. */
export async function createPackage(tx: Tx, input: GrantInput, now: Date): Promise<GrantResult> {
	if (input.polar?.orderId) {
		const [existing] = await tx
			.select({ id: creditPackage.id })
			.from(creditPackage)
			.where(eq(creditPackage.polarOrderId, input.polar.orderId));
		if (existing) {
			throw new LedgerError('idempotency_conflict', 'This order already has its credits.', {
				packageId: existing.id
			});
		}
	}
	const balanceBefore = await balanceAt(tx, input.userId, now);
	const common = {
		userId: input.userId,
		expiresAt: input.expiresAt,
		polarProductId: input.polar?.productId,
		polarSubscriptionId: input.polar?.subscriptionId,
		dailyLimit: input.dailyLimit ?? null,
		allocationId: input.allocation?.id,
		createdAt: now
	};
	const [pkg] = await tx
		.insert(creditPackage)
		.values({
			...common,
			source: input.source,
			name: input.name.trim(),
			initialCredits: input.credits,
			remainingCredits: input.credits,
			polarOrderId: input.polar?.orderId,
			allocationMonth: input.allocation?.month,
			freeMonth: input.freeMonth
		})
		.returning({ id: creditPackage.id });
	const entries: LedgerEntry[] = [
		{
			packageId: pkg.id,
			type: input.type ?? TYPE_OF_SOURCE[input.source],
			amount: input.credits,
			description: input.description ?? input.name,
			metadata: input.metadata
		}
	];
	let bonusId: string | undefined;
	if (input.bonus) {
		const [bonus] = await tx
			.insert(creditPackage)
			.values({
				...common,
				source: 'bonus',
				name: input.bonus.name.trim(),
				initialCredits: input.bonus.credits,
				remainingCredits: input.bonus.credits,
				parentPackageId: pkg.id
			})
			.returning({ id: creditPackage.id });
		bonusId = bonus.id;
		entries.push({
			packageId: bonus.id,
			type: 'bonus',
			amount: input.bonus.credits,
			description: input.bonus.description ?? input.bonus.name,
			metadata: { ...input.metadata, bonusFor: pkg.id }
		});
	}
	const written = await appendEntries(
		tx,
		{ userId: input.userId, key: input.key, now, balanceBefore },
		entries
	);
	return {
		packageId: pkg.id,
		transactionId: written.transactionIds[0],
		balanceAfter: written.balanceAfter,
		...(bonusId ? { bonus: { packageId: bonusId, transactionId: written.transactionIds[1] } } : {})
	};
}

export function assertCredits(credits: number): void {
	if (!Number.isInteger(credits) || credits < 1 || credits > MAX_CREDITS) {
		throw new LedgerError(
			'invalid_amount',
			`Credits must be a whole number from 1 to ${MAX_CREDITS.toLocaleString('en')}.`,
			{ credits }
		);
	}
}

/** Expiry `days` after `now`; 0 or null = never. */
export function expiryAfterDays(days: number | null | undefined, now: Date): Date | null {
	if (!days) return null;
	return new Date(now.getTime() + days * 86_400_000);
}
