import { and, eq, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client';
import { creditHold } from '../db/schema';
import { LedgerError } from './errors';
import { canonicalJson, once } from './idempotency';
import { pgErrorCode, pgErrorDetail, withAccountLock, type Executor, type Tx } from './transaction';

export const MIN_HOLD = 1;
export const DEFAULT_HOLD_TTL_MS = 10 * 60_000;

export interface ReserveInput {
	userId: string;
	/** The most credits wanted; the hold takes min(upTo, available). */
	upTo: number;
	/**
	 * A reply a membership may pay for: `tokens` is its worst case. While the user's membership is
	 * active, min(tokens, what is left of today's fair-use `cap`) is set aside as the hold's
	 * `membershipTokens` (counted with the other pending holds, under the account lock, so
	 * concurrent replies cannot pass the cap together), and credits are wanted only for the rest
	 * (at `rate` credits per 1,000 tokens, and never more than `upTo`). A hold may then take 0
	 * credits: a member with no credits can still chat within the allowance.
	 */
	membership?: { tokens: number; cap: number; rate: number };
	key: string;
	chatId?: string | null;
	description?: string;
	ttlMs?: number;
	/** Refuse with `too_many_holds` when the user already has this many pending holds. */
	maxPending?: number;
	now?: Date;
}

export interface ReserveResult {
	holdId: string;
	amount: number;
	/** Tokens of the membership's daily allowance set aside (0 without a membership). */
	membershipTokens: number;
	expiresAt: string;
}

/**
 * Sets credits aside for work in progress (a reply): min(upTo, available), refused with
 * `insufficient_credits` when that is below one credit and no membership allowance covers it.
 * Available = credits spendable now (not frozen, within today's daily limits) less pending holds.
 *
 * One call of the database function `credit_reserve` (drizzle/0015_credit_reserve.sql): it takes
 * the account lock, checks the key, reads what is available and the membership's allowance and
 * writes the hold, in one round trip, since a reply waits for it before it calls the model. Its
 * refusals come back as the same errors as everywhere else in the ledger.
 */
export async function reserve(
	db: Db,
	input: ReserveInput
): Promise<ReserveResult & { replayed: boolean }> {
	const args = reserveArguments(input);
	try {
		const [row] = await reserveStatement(db).execute(args);
		return reserveResult(row.result);
	} catch (error) {
		throw reserveRefusal(error, input) ?? error;
	}
}

/**
 * The arguments of `credit_reserve` for this reservation, after the checks reserve() makes
 * before any database work (they throw as it does). Also what `chat_start` passes on to it.
 */
export function reserveArguments(input: ReserveInput): ReserveParams {
	const now = input.now ?? new Date();
	if (!Number.isInteger(input.upTo) || input.upTo < MIN_HOLD) {
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
	const args = membership
		? { upTo: input.upTo, chatId: input.chatId ?? null, membership }
		: { upTo: input.upTo, chatId: input.chatId ?? null };
	const expiresAt = new Date(now.getTime() + (input.ttlMs ?? DEFAULT_HOLD_TTL_MS));
	return {
		userId: input.userId,
		// Whole numbers of any size as exact decimal text (the function takes numeric).
		upTo: BigInt(input.upTo).toString(),
		membershipTokens: membership ? BigInt(membership.tokens).toString() : null,
		membershipCap: membership ? BigInt(membership.cap).toString() : null,
		// The rate in thousandths, as creditsForTokens() rounds it; a rate it refuses is passed as
		// NULL and refused where it would have been used (only with an active membership).
		rateMilli:
			membership && Number.isFinite(membership.rate)
				? BigInt(Math.round(membership.rate * 1000)).toString()
				: null,
		key: input.key,
		// canonicalJson() of the arguments, exactly what once() in idempotency.ts compares.
		fingerprint: canonicalJson(args),
		chatId: input.chatId ?? null,
		description: input.description ?? 'Reply in progress',
		maxPending: input.maxPending ?? null,
		// As text: drizzle sets postgres.js up to pass timestamp parameters through untouched.
		now: validTime(now) ? now.toISOString() : null,
		expiresAt: validTime(expiresAt) ? expiresAt.toISOString() : null
	};
}

/** A reservation as `credit_reserve` returns it. */
export function reserveResult(
	result: ReserveResult & { replayed: boolean }
): ReserveResult & { replayed: boolean } {
	// A result stored before memberships existed has no membershipTokens.
	return { ...result, membershipTokens: result.membershipTokens ?? 0 };
}

const validTime = (date: Date) => !Number.isNaN(date.getTime());

export type ReserveParams = {
	userId: string;
	upTo: string;
	membershipTokens: string | null;
	membershipCap: string | null;
	rateMilli: string | null;
	key: string;
	fingerprint: string;
	chatId: string | null;
	description: string;
	maxPending: number | null;
	now: string | null;
	expiresAt: string | null;
};

// Prepared once per database, as credit_settle's statement is: one round trip per call.
const reserveStatements = new WeakMap<Db, ReturnType<typeof prepareReserveStatement>>();

function reserveStatement(db: Db) {
	let statement = reserveStatements.get(db);
	if (!statement) {
		statement = prepareReserveStatement(db);
		reserveStatements.set(db, statement);
	}
	return statement;
}

function prepareReserveStatement(db: Db) {
	const p = (name: keyof ReserveParams) => sql.placeholder(name);
	return db
		.select({ result: sql<ReserveResult & { replayed: boolean }>`result` })
		.from(
			sql`credit_reserve(${p('userId')}::text, ${p('upTo')}::numeric, ${p('membershipTokens')}::numeric, ${p('membershipCap')}::numeric, ${p('rateMilli')}::numeric, ${p('key')}::text, ${p('fingerprint')}::text, ${p('chatId')}::text, ${p('description')}::text, ${p('maxPending')}::double precision, ${p('now')}::timestamptz, ${p('expiresAt')}::text) as result`
		)
		.prepare('credit_reserve');
}

/**
 * The error reserve() threw before it was a database function, for a refusal raised by
 * `credit_reserve` (SQLSTATE class CL), if it is one.
 */
export function reserveRefusal(error: unknown, input: ReserveInput): Error | undefined {
	switch (pgErrorCode(error)) {
		case 'CL003':
			return new LedgerError(
				'idempotency_conflict',
				'This idempotency key was already used for a different request.',
				{ key: input.key }
			);
		case 'CL004':
			return new LedgerError('user_not_found', 'This user does not exist.', {
				userId: input.userId
			});
		case 'CL005':
			return new LedgerError(
				'too_many_holds',
				`At most ${input.maxPending} replies can run at once. Wait for one to finish.`,
				{ pending: Number(pgErrorDetail(error)) }
			);
		case 'CL006': {
			const { balance, available } = JSON.parse(pgErrorDetail(error) ?? '{}') as {
				balance: number;
				available: number;
			};
			return new LedgerError('insufficient_credits', 'You have no credits left.', {
				balance,
				available
			});
		}
		case 'CL007':
			return new RangeError(`bad rate ${input.membership?.rate}`);
		case 'CL008':
			return new RangeError('Invalid time value');
		default:
			return undefined;
	}
}

export interface SettleInput {
	holdId: string;
	/** The real cost in credits (of the tokens the membership did not pay for). */
	cost: number;
	/**
	 * Tokens the membership paid for (at most the hold's `membershipTokens`): written as one
	 * usage row of 0 credits with `membershipTokens` in its metadata.
	 */
	membershipTokens?: number;
	description?: string;
	/** Written on every usage row (tokens, model, chat and message ids, …). */
	metadata?: Record<string, unknown>;
	key?: string;
	now?: Date;
}

export interface SettleResult {
	holdId: string;
	charged: number;
	/** Cost that could not be charged because the balance ran out (recorded in metadata). */
	shortfall: number;
	/** Tokens the membership paid for (its zero-credit usage row), 0 for none. */
	membershipTokens: number;
	balanceAfter: number;
	transactionIds: number[];
	packageIds: string[];
}

/**
 * Charges the real cost of a hold and releases the rest. Beyond the hold it charges only what
 * the balance allows without eating into other pending holds; any shortfall is recorded.
 */
export async function settle(
	db: Db,
	input: SettleInput
): Promise<SettleResult & { replayed: boolean }> {
	if (!Number.isInteger(input.cost) || input.cost < 0 || input.cost > MAX_COST) {
		throw new LedgerError('invalid_amount', 'A cost must be a whole number of credits, 0 or more.');
	}
	const membershipTokens = input.membershipTokens ?? 0;
	if (!Number.isInteger(membershipTokens) || membershipTokens < 0 || membershipTokens > MAX_COST) {
		throw new LedgerError('invalid_amount', 'Membership tokens must be a whole number, 0 or more.');
	}
	if (!UUID.test(input.holdId)) throw holdNotFound(input.holdId);
	return settleHold(db, {
		userId: null,
		holdId: input.holdId,
		cost: input.cost,
		membershipTokens,
		key: input.key ?? `settle:${input.holdId}`,
		description: input.description,
		metadata: input.metadata,
		now: input.now ?? new Date()
	});
}

export interface SettleHoldInput {
	/** The hold's owner when the caller knows it (and may hold its lock already), else null. */
	userId: string | null;
	holdId: string;
	cost: number;
	/** Tokens the membership paid for; more than the hold set aside is cut to what it set aside. */
	membershipTokens?: number;
	key: string;
	/** Defaults to the hold's own description. */
	description?: string;
	metadata?: Record<string, unknown>;
	now: Date;
}

/**
 * Settles a pending hold with one call of the database function `credit_settle`
 * (drizzle/0014_credit_settle_pools.sql, first written in 0004): it takes the locks, checks the key, charges and
 * resolves the hold, in the caller's transaction or in a statement of its own. Its refusals
 * come back as the same LedgerErrors as everywhere else in the ledger.
 */
export async function settleHold(
	executor: Executor,
	input: SettleHoldInput
): Promise<SettleResult & { replayed: boolean }> {
	try {
		const [row] = await settleStatement(executor).execute({
			userId: input.userId,
			holdId: input.holdId,
			cost: input.cost,
			membershipTokens: input.membershipTokens ?? 0,
			key: input.key,
			description: input.description ?? null,
			metadata: input.metadata ? JSON.stringify(input.metadata) : null,
			// As text: drizzle sets postgres.js up to pass timestamp parameters through untouched.
			now: input.now.toISOString()
		});
		// A result stored before memberships existed has no membershipTokens.
		return { ...row.result, membershipTokens: row.result.membershipTokens ?? 0 };
	} catch (error) {
		throw settleRefusal(error, input) ?? error;
	}
}

// Prepared once per database (or transaction): postgres.js then sends Bind/Execute alone, one
// round trip, where a statement with parameters that is not prepared first waits for a Describe.
const settleStatements = new WeakMap<Executor, ReturnType<typeof prepareSettleStatement>>();

function settleStatement(executor: Executor) {
	let statement = settleStatements.get(executor);
	if (!statement) {
		statement = prepareSettleStatement(executor);
		settleStatements.set(executor, statement);
	}
	return statement;
}

function prepareSettleStatement(executor: Executor) {
	const p = (name: keyof SettleHoldInput) => sql.placeholder(name);
	// A scalar function in FROM gives one row whose one column is named after the alias.
	return executor
		.select({ result: sql<SettleResult & { replayed: boolean }>`result` })
		.from(
			sql`credit_settle(${p('userId')}::text, ${p('holdId')}::uuid, ${p('cost')}::integer, ${p('membershipTokens')}::integer, ${p('key')}::text, ${p('description')}::text, ${p('metadata')}::jsonb, ${p('now')}::timestamptz) as result`
		)
		.prepare('credit_settle');
}

/** The LedgerError for a refusal raised by `credit_settle` (SQLSTATE class CL), if it is one. */
function settleRefusal(error: unknown, input: SettleHoldInput): LedgerError | undefined {
	switch (pgErrorCode(error)) {
		case 'CL001':
			return holdNotFound(input.holdId);
		case 'CL002': {
			const status = pgErrorDetail(error);
			return new LedgerError('hold_already_resolved', `This hold was already ${status}.`, {
				holdId: input.holdId,
				status
			});
		}
		case 'CL003':
			return new LedgerError(
				'idempotency_conflict',
				'This idempotency key was already used for a different request.',
				{ key: input.key }
			);
		default:
			return undefined;
	}
}

/** Releases a hold without charging anything (an upstream failure before any output). */
export async function voidHold(
	db: Db,
	input: { holdId: string; key?: string; now?: Date }
): Promise<{ holdId: string; status: 'voided'; replayed: boolean }> {
	const now = input.now ?? new Date();
	const userId = await ownerOf(db, input.holdId);
	const key = input.key ?? `void:${input.holdId}`;
	const op = { key, userId, name: 'void', args: { holdId: input.holdId } };
	return withAccountLock(db, userId, (tx) =>
		once(tx, op, async () => {
			const hold = await lockPendingHold(tx, input.holdId);
			await resolveHold(tx, hold.id, 'voided', now, 0);
			return { holdId: hold.id, status: 'voided' as const };
		})
	);
}

/**
 * Records what a pending hold is known to owe so far (e.g. tokens streamed), so that the
 * sweeper can charge it if the process dies before settling. Only ever raises the figure.
 */
export async function recordOwed(db: Db, holdId: string, owed: number): Promise<void> {
	await db.execute(owedUpdate(holdId, owed));
}

/**
 * recordOwed's statement, for a caller that writes it with another one (a running reply's
 * heartbeat, see writeProgress in chat/runs.ts): never above the hold's amount, never lower
 * than before, and only while the hold is pending.
 */
export function owedUpdate(holdId: string, owed: number): SQL {
	return sql`update credit_hold set owed_credits = greatest(owed_credits, least(${owed}::int, amount))
		where id = ${holdId} and status = 'pending'`;
}

/** The largest cost `credit_settle` takes: its cost is an SQL integer. */
const MAX_COST = 2_147_483_647;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function holdNotFound(holdId: string): LedgerError {
	return new LedgerError('hold_not_found', 'This hold does not exist.', { holdId });
}

async function ownerOf(db: Db, holdId: string): Promise<string> {
	if (!UUID.test(holdId)) throw holdNotFound(holdId);
	const [hold] = await db
		.select({ userId: creditHold.userId })
		.from(creditHold)
		.where(eq(creditHold.id, holdId));
	if (!hold) throw holdNotFound(holdId);
	return hold.userId;
}

async function lockPendingHold(tx: Tx, holdId: string) {
	const [hold] = await tx.select().from(creditHold).where(eq(creditHold.id, holdId)).for('update');
	if (!hold) throw holdNotFound(holdId);
	if (hold.status !== 'pending') {
		throw new LedgerError('hold_already_resolved', `This hold was already ${hold.status}.`, {
			holdId,
			status: hold.status
		});
	}
	return hold;
}

export async function resolveHold(
	tx: Tx,
	holdId: string,
	status: 'settled' | 'voided' | 'expired',
	now: Date,
	charged: number
): Promise<void> {
	const updated = await tx
		.update(creditHold)
		.set({ status, chargedCredits: charged, resolvedAt: now })
		.where(and(eq(creditHold.id, holdId), eq(creditHold.status, 'pending')))
		.returning({ id: creditHold.id });
	if (updated.length !== 1) throw new Error(`hold ${holdId} changed under its lock`);
}
