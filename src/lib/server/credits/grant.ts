import { eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { creditPackage, type packageSources } from '../db/schema';
import { LedgerError } from './errors';
import { once } from './idempotency';
import { appendEntries, balanceAt, type TransactionType } from './ledger';
import { withAccountLock, type Tx } from './transaction';

export type PackageSource = (typeof packageSources)[number];

const TYPE_OF_SOURCE: Record<PackageSource, TransactionType> = {
	signup_bonus: 'bonus',
	purchase: 'purchase',
	subscription: 'subscription',
	admin_grant: 'grant'
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
	now?: Date;
}

export interface GrantResult {
	packageId: string;
	transactionId: number;
	balanceAfter: number;
}

/** Creates a package of credits for a user and its ledger row. */
export async function grant(
	db: Db,
	input: GrantInput
): Promise<GrantResult & { replayed: boolean }> {
	const now = input.now ?? new Date();
	assertCredits(input.credits);
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
			type: input.type ?? null
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
	const [pkg] = await tx
		.insert(creditPackage)
		.values({
			userId: input.userId,
			source: input.source,
			name: input.name.trim(),
			initialCredits: input.credits,
			remainingCredits: input.credits,
			expiresAt: input.expiresAt,
			polarOrderId: input.polar?.orderId,
			polarProductId: input.polar?.productId,
			polarSubscriptionId: input.polar?.subscriptionId,
			createdAt: now
		})
		.returning({ id: creditPackage.id });
	const written = await appendEntries(
		tx,
		{ userId: input.userId, key: input.key, now, balanceBefore },
		[
			{
				packageId: pkg.id,
				type: input.type ?? TYPE_OF_SOURCE[input.source],
				amount: input.credits,
				description: input.description ?? input.name,
				metadata: input.metadata
			}
		]
	);
	return {
		packageId: pkg.id,
		transactionId: written.transactionIds[0],
		balanceAfter: written.balanceAfter
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
