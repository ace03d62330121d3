import { and, count, eq } from 'drizzle-orm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
	grant,
	LedgerError,
	reserve,
	settle,
	type ReserveInput,
	type ReserveResult
} from '../../src/lib/server/credits';
import { once } from '../../src/lib/server/credits/idempotency';
import { availableAt } from '../../src/lib/server/credits/ledger';
import { activeMembership, membershipTokensToday } from '../../src/lib/server/credits/membership';
import { creditsForTokens } from '../../src/lib/server/credits/pricing';
import { withAccountLock } from '../../src/lib/server/credits/transaction';
import type { Db } from '../../src/lib/server/db/client';
import {
	billingSubscription,
	creditAccount,
	creditHold,
	creditOperation,
	creditPackage
} from '../../src/lib/server/db/schema';
import { databaseKinds, useTestDatabase } from '../helpers/databases';
import { DAY, T0 } from '../helpers/ledger';
import { createUser } from '../helpers/users';

// reserve() became one call of the database function credit_reserve (drizzle/0015). These tests
// pin what the other ledger suites do not: that it decides exactly as the TypeScript reserve it
// replaced, that keys stored by either one replay in the other (instances of both versions run
// side by side during a deploy), its refusals, and a key replayed under concurrency.

const HOUR = 3_600_000;
/** 10:00 UTC on day `n` after T0 (T0 is a UTC midnight). */
const dayAt = (n: number, hours = 10) => new Date(T0.getTime() + n * DAY + hours * HOUR);

/** The TypeScript reserve() as it was before migration 0015, kept as the reference. */
async function referenceReserve(
	db: Db,
	input: ReserveInput
): Promise<ReserveResult & { replayed: boolean }> {
	const now = input.now ?? new Date();
	if (!Number.isInteger(input.upTo) || input.upTo < 1) {
		throw new LedgerError('invalid_amount', 'A hold must ask for at least one whole credit.');
	}
	const membership = input.membership;
	if (
		membership &&
		(!Number.isInteger(membership.tokens) ||
			membership.tokens < 0 ||
			!Number.isInteger(membership.cap) ||
			membership.cap < 0 ||
			!(membership.rate >= 0))
	) {
		throw new LedgerError('invalid_amount', 'A membership hold needs whole token counts.');
	}
	const op = {
		key: input.key,
		userId: input.userId,
		name: 'reserve',
		args: membership
			? { upTo: input.upTo, chatId: input.chatId ?? null, membership }
			: { upTo: input.upTo, chatId: input.chatId ?? null }
	};
	const result = await withAccountLock(db, input.userId, (tx) =>
		once(tx, op, async (): Promise<ReserveResult> => {
			if (input.maxPending !== undefined) {
				const [{ n }] = await tx
					.select({ n: count() })
					.from(creditHold)
					.where(and(eq(creditHold.userId, input.userId), eq(creditHold.status, 'pending')));
				if (n >= input.maxPending) {
					throw new LedgerError(
						'too_many_holds',
						`At most ${input.maxPending} replies can run at once. Wait for one to finish.`,
						{ pending: n }
					);
				}
			}
			const { balance, available } = await availableAt(tx, input.userId, now);
			let membershipTokens = 0;
			let wanted = input.upTo;
			if (membership && (await activeMembership(tx, input.userId, now))) {
				const used = await membershipTokensToday(tx, input.userId, now);
				membershipTokens = Math.min(membership.tokens, Math.max(0, membership.cap - used));
				wanted = Math.min(
					input.upTo,
					creditsForTokens(membership.tokens - membershipTokens, membership.rate)
				);
			}
			const amount = Math.min(wanted, available);
			if (membershipTokens === 0 && amount < 1) {
				throw new LedgerError('insufficient_credits', 'You have no credits left.', {
					balance,
					available
				});
			}
			const expiresAt = new Date(now.getTime() + (input.ttlMs ?? 10 * 60_000));
			const [hold] = await tx
				.insert(creditHold)
				.values({
					userId: input.userId,
					amount,
					membershipTokens,
					chatId: input.chatId ?? null,
					description: input.description ?? 'Reply in progress',
					idempotencyKey: input.key,
					expiresAt,
					createdAt: now
				})
				.returning({ id: creditHold.id });
			return { holdId: hold.id, amount, membershipTokens, expiresAt: expiresAt.toISOString() };
		})
	);
	return { ...result, membershipTokens: result.membershipTokens ?? 0 };
}

type Reserve = typeof reserve;

/** How a call ended, without what differs between two users (ids). */
async function outcome(run: Promise<ReserveResult & { replayed: boolean }>) {
	try {
		const { holdId, ...rest } = await run;
		expect(holdId).toMatch(/^[0-9a-f-]{36}$/);
		return { ok: rest };
	} catch (error) {
		if (error instanceof LedgerError) {
			return { refused: { code: error.code, message: error.message, details: error.details } };
		}
		if (error instanceof RangeError) return { rangeError: error.message };
		throw error;
	}
}

type Outcome = Awaited<ReturnType<typeof outcome>>;

/** A user's holds and stored reserve results, without ids and keys. */
async function stateOf(db: Db, userId: string) {
	const holds = await db
		.select()
		.from(creditHold)
		.where(eq(creditHold.userId, userId))
		.orderBy(creditHold.createdAt, creditHold.amount, creditHold.membershipTokens);
	const operations = await db
		.select()
		.from(creditOperation)
		.where(and(eq(creditOperation.userId, userId), eq(creditOperation.operation, 'reserve')))
		.orderBy(creditOperation.createdAt);
	return {
		holds: holds
			.map(({ id: _id, userId: _u, idempotencyKey, ...rest }) => ({
				...rest,
				key: idempotencyKey.split(':').slice(1).join(':')
			}))
			.sort((a, b) => (a.key < b.key ? -1 : 1)),
		operations: operations
			.map(({ key, userId: _u, createdAt: _c, result, ...rest }) => {
				const stored = { ...(result as Record<string, unknown>) };
				delete stored.holdId;
				return { ...rest, key: key.split(':').slice(1).join(':'), result: stored };
			})
			.sort((a, b) => (a.key < b.key ? -1 : 1))
	};
}

interface Setup {
	packages: {
		credits: number;
		dailyLimit: number | null;
		frozen: boolean;
		/** null = never; negative = expired before now. */
		days: number | null;
	}[];
	/** Credits charged today before the request (usage rows, so daily limits count them). */
	spentToday: number;
	membership: 'none' | 'active' | 'ended';
	/** Membership tokens used today before the request (a zero-credit usage row). */
	memberTokensToday: number;
	/** Pending holds before the request, each asking for this many credits. */
	pending: number[];
	pendingMemberTokens: number;
	request: {
		upTo: number;
		membership?: { tokens: number; cap: number; rate: number };
		maxPending?: number;
		ttlMs?: number;
		chatId?: string | null;
		description?: string;
	};
}

const setupArbitrary: fc.Arbitrary<Setup> = fc.record({
	packages: fc.array(
		fc.record({
			credits: fc.integer({ min: 1, max: 30 }),
			dailyLimit: fc.option(fc.integer({ min: 1, max: 12 }), { nil: null }),
			frozen: fc.boolean(),
			days: fc.option(fc.constantFrom(-1, 1, 3), { nil: null })
		}),
		{ maxLength: 4 }
	),
	spentToday: fc.integer({ min: 0, max: 15 }),
	// Mostly active: most of what a membership changes needs one.
	membership: fc.constantFrom('none', 'active', 'active', 'active', 'ended'),
	memberTokensToday: fc.constantFrom(0, 1_000, 4_999, 6_000),
	pending: fc.array(fc.integer({ min: 1, max: 12 }), { maxLength: 3 }),
	pendingMemberTokens: fc.constantFrom(0, 500, 3_000),
	request: fc.record(
		{
			upTo: fc.integer({ min: 1, max: 40 }),
			membership: fc.option(
				fc.record({
					tokens: fc.constantFrom(0, 1, 999, 2_500, 7_000),
					cap: fc.constantFrom(0, 3_000, 5_000, 10_000),
					rate: fc.constantFrom(0, 0.5, 0.7, 1, 2.5, 0.0004)
				}),
				{ nil: undefined, freq: 4 }
			),
			maxPending: fc.constantFrom(0, 1, 2, 3, 10),
			ttlMs: fc.constantFrom(1, 60_000, 1_234.5),
			chatId: fc.constantFrom(null, 'chat-1'),
			description: fc.constantFrom('Reply in progress', 'Réponse « en cours »')
		},
		{ requiredKeys: ['upTo', 'membership'] }
	)
});

/** Builds the same state for a fresh user with the reference reserve (never the new one). */
async function build(db: Db, setup: Setup): Promise<string> {
	const userId = await createUser(db);
	const now = dayAt(0);
	for (const [i, pkg] of setup.packages.entries()) {
		const grantedAt = pkg.days === -1 ? dayAt(-3) : new Date(T0.getTime() + i);
		const { packageId } = await grant(db, {
			userId,
			source: pkg.dailyLimit ? 'subscription' : 'purchase',
			name: `Pack ${i}`,
			credits: pkg.credits,
			expiresAt:
				pkg.days === null ? null : new Date(grantedAt.getTime() + Math.abs(pkg.days) * DAY),
			dailyLimit: pkg.dailyLimit,
			key: `${userId}:grant:${i}`,
			now: grantedAt
		});
		if (pkg.frozen) {
			await db.update(creditPackage).set({ frozenAt: T0 }).where(eq(creditPackage.id, packageId));
		}
	}
	if (setup.membership !== 'none') {
		await db.insert(billingSubscription).values({
			id: `sub_${userId}`,
			userId,
			polarProductId: 'prod_member',
			productName: 'Member',
			membership: true,
			status: 'active',
			currentPeriodStart: T0,
			currentPeriodEnd: new Date(T0.getTime() + 30 * DAY),
			endedAt: setup.membership === 'ended' ? T0 : null,
			eventAt: T0
		});
	}
	// Today's earlier replies: credits spent from the packages (counted by daily limits), then
	// tokens the membership paid for.
	const earlier = async (key: string, input: Omit<ReserveInput, 'userId' | 'key' | 'now'>) => {
		const hold = await referenceReserve(db, {
			...input,
			userId,
			key: `${userId}:${key}`,
			now
		}).catch((error: unknown) => {
			if (error instanceof LedgerError && error.code === 'insufficient_credits') return null;
			throw error;
		});
		if (!hold) return;
		await settle(db, {
			holdId: hold.holdId,
			cost: Math.min(setup.spentToday, hold.amount),
			membershipTokens: hold.membershipTokens,
			now
		});
	};
	if (setup.spentToday > 0) await earlier('spent', { upTo: setup.spentToday });
	if (setup.membership === 'active' && setup.memberTokensToday > 0) {
		const tokens = setup.memberTokensToday;
		await earlier('member', { upTo: 1, membership: { tokens, cap: tokens, rate: 1 } });
	}
	for (const [i, upTo] of setup.pending.entries()) {
		await referenceReserve(db, {
			userId,
			upTo,
			membership:
				setup.pendingMemberTokens > 0
					? { tokens: setup.pendingMemberTokens, cap: 100_000, rate: 1 }
					: undefined,
			key: `${userId}:pending:${i}`,
			now
		}).catch((error: unknown) => {
			if (error instanceof LedgerError && error.code === 'insufficient_credits') return;
			throw error;
		});
	}
	return userId;
}

describe.each(databaseKinds)('credit_reserve on %s', (kind) => {
	const database = useTestDatabase(kind);
	const db = () => database().db;

	it('decides, writes and stores exactly what the TypeScript reserve did, and each replays the other', async () => {
		await fc.assert(
			fc.asyncProperty(setupArbitrary, async (setup) => {
				// Twins: the same state for two users, one request each, old and new.
				const [oldUser, newUser] = [await build(db(), setup), await build(db(), setup)];
				const now = dayAt(0);
				const request = (userId: string, key: string) => ({
					...setup.request,
					userId,
					key: `${userId}:${key}`,
					now
				});
				const calls: [string, Reserve][] = [
					[oldUser, referenceReserve],
					[newUser, reserve]
				];
				const before: Outcome[] = [];
				const after: Outcome[] = [];
				for (const [userId, run] of calls) {
					before.push(await outcome(run(db(), request(userId, 'request'))));
				}
				expect(before[1]).toEqual(before[0]);
				// The same key again replays in both, and in the other implementation too.
				for (const [userId, run] of calls) {
					after.push(await outcome(run(db(), request(userId, 'request'))));
				}
				after.push(await outcome(reserve(db(), request(oldUser, 'request'))));
				after.push(await outcome(referenceReserve(db(), request(newUser, 'request'))));
				for (const replay of after) {
					expect(replay).toEqual(
						'ok' in before[0]! ? { ok: { ...before[0].ok, replayed: true } } : before[0]
					);
				}
				expect(await stateOf(db(), newUser)).toEqual(await stateOf(db(), oldUser));
			}),
			{ numRuns: kind === 'pglite' ? 80 : 150 }
		);
	});

	it('maps each refusal to the LedgerError the TypeScript reserve threw, and writes nothing', async () => {
		const userId = await createUser(db());
		const now = dayAt(0);
		await grant(db(), {
			userId,
			source: 'purchase',
			name: 'Pack',
			credits: 5,
			expiresAt: null,
			key: `${userId}:grant`,
			now: T0
		});
		const refusal = async (run: Promise<unknown>) => {
			const error = await run.then(
				() => null,
				(e: unknown) => e
			);
			expect(error).toBeInstanceOf(LedgerError);
			const { code, message, details } = error as LedgerError;
			return { code, message, details };
		};

		expect(
			await refusal(reserve(db(), { userId: 'no-such-user', upTo: 1, key: `${userId}:ghost`, now }))
		).toEqual({
			code: 'user_not_found',
			message: 'This user does not exist.',
			details: { userId: 'no-such-user' }
		});
		const first = await reserve(db(), { userId, upTo: 3, key: `${userId}:a`, now });
		expect(first).toMatchObject({ amount: 3, membershipTokens: 0, replayed: false });

		const conflict = {
			code: 'idempotency_conflict',
			message: 'This idempotency key was already used for a different request.',
			details: { key: `${userId}:a` }
		};
		// Other arguments, another user, another operation under the same key: conflicts.
		expect(await refusal(reserve(db(), { userId, upTo: 4, key: `${userId}:a`, now }))).toEqual(
			conflict
		);
		expect(
			await refusal(reserve(db(), { userId, upTo: 3, chatId: 'c', key: `${userId}:a`, now }))
		).toEqual(conflict);
		const other = await createUser(db());
		expect(
			await refusal(reserve(db(), { userId: other, upTo: 3, key: `${userId}:a`, now }))
		).toEqual(conflict);
		expect(await refusal(reserve(db(), { userId, upTo: 1, key: `${userId}:grant`, now }))).toEqual({
			...conflict,
			details: { key: `${userId}:grant` }
		});

		expect(
			await refusal(reserve(db(), { userId, upTo: 1, maxPending: 1, key: `${userId}:b`, now }))
		).toEqual({
			code: 'too_many_holds',
			message: 'At most 1 replies can run at once. Wait for one to finish.',
			details: { pending: 1 }
		});
		await reserve(db(), { userId, upTo: 9, key: `${userId}:d`, now });
		expect(await refusal(reserve(db(), { userId, upTo: 1, key: `${userId}:e`, now }))).toEqual({
			code: 'insufficient_credits',
			message: 'You have no credits left.',
			details: { balance: 5, available: 0 }
		});
		// A rate creditsForTokens() refuses fails only where it is used: with an active membership.
		const infinite = { tokens: 10, cap: 0, rate: Number.POSITIVE_INFINITY };
		expect(
			await refusal(
				reserve(db(), { userId, upTo: 1, membership: infinite, key: `${userId}:f`, now })
			)
		).toMatchObject({ code: 'insufficient_credits' });
		await db()
			.insert(billingSubscription)
			.values({
				id: `sub_${userId}`,
				userId,
				polarProductId: 'prod_member',
				productName: 'Member',
				membership: true,
				status: 'active',
				currentPeriodEnd: new Date(T0.getTime() + 30 * DAY),
				eventAt: T0
			});
		await expect(
			reserve(db(), { userId, upTo: 1, membership: infinite, key: `${userId}:g`, now })
		).rejects.toThrow(new RangeError('bad rate Infinity'));
		await expect(
			reserve(db(), { userId, upTo: 1, key: `${userId}:h`, now: new Date(Number.NaN) })
		).rejects.toThrow(RangeError);

		const holds = await db().select().from(creditHold).where(eq(creditHold.userId, userId));
		expect(holds.map((h) => h.amount).sort()).toEqual([2, 3]);
		const keys = await db()
			.select({ key: creditOperation.key })
			.from(creditOperation)
			.where(and(eq(creditOperation.userId, userId), eq(creditOperation.operation, 'reserve')));
		expect(keys.map((k) => k.key).sort()).toEqual([`${userId}:a`, `${userId}:d`]);
		expect(
			await db().select().from(creditAccount).where(eq(creditAccount.userId, 'no-such-user'))
		).toEqual([]);
	});
});

describe('credit_reserve under concurrency on postgres', () => {
	const database = useTestDatabase('postgres', { maxConnections: 20 });
	const db = () => database().db;

	it('one key reserved 20 times at once by a user without an account row: one hold, 19 replays', async () => {
		const userId = await createUser(db());
		await grant(db(), {
			userId,
			source: 'purchase',
			name: 'Pack',
			credits: 50,
			expiresAt: null,
			key: `${userId}:grant`,
			now: T0
		});
		// The account row exists after a grant; drop it so the racing calls also race to create it.
		await db().delete(creditAccount).where(eq(creditAccount.userId, userId));
		const now = dayAt(0);
		const results = await Promise.all(
			Array.from({ length: 20 }, () =>
				reserve(db(), { userId, upTo: 7, chatId: 'c1', key: `${userId}:same`, now })
			)
		);
		expect(results.filter((r) => !r.replayed)).toHaveLength(1);
		const first = results.find((r) => !r.replayed)!;
		for (const result of results) expect(result).toEqual({ ...first, replayed: result.replayed });
		const holds = await db().select().from(creditHold).where(eq(creditHold.userId, userId));
		expect(holds).toHaveLength(1);
		expect(holds[0]).toMatchObject({ id: first.holdId, amount: 7, status: 'pending' });
	});

	it('one key raced with two different requests: one wins, its twins replay, the others conflict', async () => {
		const userId = await createUser(db());
		await grant(db(), {
			userId,
			source: 'purchase',
			name: 'Pack',
			credits: 50,
			expiresAt: null,
			key: `${userId}:grant`,
			now: T0
		});
		const now = dayAt(0);
		const settled = await Promise.allSettled(
			Array.from({ length: 20 }, (_, i) =>
				reserve(db(), { userId, upTo: 1 + (i % 2), key: `${userId}:same`, now })
			)
		);
		const values = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
		const codes = settled.flatMap((r) =>
			r.status === 'rejected' ? [(r.reason as LedgerError).code] : []
		);
		expect(values).toHaveLength(10);
		expect(new Set(values.map((v) => v.holdId)).size).toBe(1);
		expect(values.filter((v) => !v.replayed)).toHaveLength(1);
		expect(codes).toEqual(Array(10).fill('idempotency_conflict'));
		const holds = await db().select().from(creditHold).where(eq(creditHold.userId, userId));
		expect(holds).toHaveLength(1);
	});
});
