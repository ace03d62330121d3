import { eq, sql } from 'drizzle-orm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
	adjust,
	balanceOf,
	grant,
	LedgerError,
	membershipTokensToday,
	reserve,
	revokeFromPackage,
	settle,
	sweep,
	verify,
	voidHold,
	type AdjustMode,
	type GrantInput,
	type LedgerErrorCode
} from '../../src/lib/server/credits';
import type { Db } from '../../src/lib/server/db/client';
import {
	billingSubscription,
	creditHold,
	creditPackage,
	creditTransaction
} from '../../src/lib/server/db/schema';
import { databaseKinds, useTestDatabase } from '../helpers/databases';
import { createUser } from '../helpers/users';

// A model-based test of the ledger: random sequences of operations run against the database and
// against a small in-memory model, and after every step the two must agree and the invariants of
// GUIDE §3 must hold. Replay a failure with FC_SEED=<seed> (printed in the test name and in the
// report), and go straight to the shrunk counterexample with FC_PATH=<path> from the same report.
// FC_RUNS=<n> runs longer searches.
//
// Issue 13 added plan pools and memberships: packages with a daily limit (spending from them stops
// at the limit for the UTC day), frozen packages (never spent while frozen, still in the balance),
// bonus packages granted beside their parent, and membership holds that set aside tokens of a
// daily fair-use allowance and are settled with a zero-credit usage row.

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : Date.now() % 2_147_483_647;
const RUNS = Number(process.env.FC_RUNS ?? 100);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const HOLD_TTL = 10 * 60_000;
const t0 = Date.parse('2026-11-01T00:00:00Z');
/** MEMBERSHIP_DAILY_TOKENS for this test: small, so that the cap is reached often. */
const CAP = 30_000;
const dayOf = (time: number) => Math.floor(time / DAY);

interface ModelPackage {
	id: string;
	initial: number;
	/** What the database holds: an expired package keeps its credits until the sweep. */
	remaining: number;
	expiresAt: number | null;
	createdAt: number;
	dailyLimit: number | null;
	frozen: boolean;
	/** Credits its usage rows took, by UTC day number: what its daily limit counts. */
	usageByDay: Map<number, number>;
	/** While frozen: how many usage rows the database had on it when it froze. */
	usageRowsAtFreeze?: number;
}

interface ModelHold {
	id: string;
	amount: number;
	/** Tokens of the membership's allowance set aside. */
	membershipTokens: number;
	status: 'pending' | 'settled' | 'voided' | 'expired';
	charged: number | null;
	expiresAt: number;
	/** The first settle under the hold's default key, which a replay must return. */
	settledByDefaultKey?: { cost: number; membershipTokens: number; result: unknown };
	voidedByDefaultKey?: { result: unknown };
}

interface Model {
	now: number;
	packages: ModelPackage[];
	holds: ModelHold[];
	/** Grants made by the grant command, to be replayed with the same key. */
	grants: { input: GrantInput; result: unknown }[];
	/** The user's membership subscription is active. */
	membership: boolean;
	/** Tokens the membership paid for (its zero-credit rows), by UTC day number. */
	membershipByDay: Map<number, number>;
}

interface Real {
	db: Db;
	userId: string;
	nextKey(): string;
}

const isLive = (pkg: ModelPackage, now: number) =>
	pkg.remaining > 0 && (pkg.expiresAt === null || pkg.expiresAt > now);

/** What a package may give now: nothing while frozen, at most what its daily limit leaves today. */
function roomOf(pkg: ModelPackage, now: number) {
	if (!isLive(pkg, now) || pkg.frozen) return 0;
	if (pkg.dailyLimit === null) return pkg.remaining;
	const given = pkg.usageByDay.get(dayOf(now)) ?? 0;
	return Math.max(0, Math.min(pkg.remaining, pkg.dailyLimit - given));
}

function figures(m: Model) {
	const balance = m.packages.filter((p) => isLive(p, m.now)).reduce((t, p) => t + p.remaining, 0);
	const spendable = m.packages.reduce((t, p) => t + roomOf(p, m.now), 0);
	const reserved = m.holds.filter((h) => h.status === 'pending').reduce((t, h) => t + h.amount, 0);
	return { balance, spendable, reserved, available: Math.max(0, spendable - reserved) };
}

/** Membership tokens counted against today's cap: today's rows plus pending holds' set-asides. */
function membershipUsed(m: Model) {
	const pending = m.holds
		.filter((h) => h.status === 'pending')
		.reduce((t, h) => t + h.membershipTokens, 0);
	return (m.membershipByDay.get(dayOf(m.now)) ?? 0) + pending;
}

/**
 * Takes `amount` from the live packages: soonest expiry first, never-expiring last, then oldest.
 * A reply's usage (`usage`) takes only what each package may give now and counts against its
 * daily limit; an admin's subtraction takes from every live package.
 */
function spendModel(m: Model, amount: number, usage = false) {
	const order = m.packages
		.filter((p) => isLive(p, m.now))
		.sort(
			(a, b) =>
				(a.expiresAt ?? Infinity) - (b.expiresAt ?? Infinity) ||
				a.createdAt - b.createdAt ||
				(a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
		);
	let left = amount;
	for (const pkg of order) {
		const take = Math.min(left, usage ? roomOf(pkg, m.now) : pkg.remaining);
		pkg.remaining -= take;
		left -= take;
		if (usage && take > 0) {
			pkg.usageByDay.set(dayOf(m.now), (pkg.usageByDay.get(dayOf(m.now)) ?? 0) + take);
		}
	}
	if (left !== 0) throw new Error(`model bug: spend of ${amount} short by ${left}`);
}

const isWholeAtLeast = (n: number, min: number) => Number.isInteger(n) && n >= min;

/**
 * Runs the operation; when the model expects a refusal (`expected` is a code), the operation must
 * throw exactly that LedgerError, and when it expects success it must not throw.
 */
async function outcome<T>(
	expected: LedgerErrorCode | null,
	operation: () => Promise<T>
): Promise<T | null> {
	if (expected) {
		const error = await operation().then(
			(value) => ({ unexpectedSuccess: value }),
			(e: unknown) => e
		);
		expect(error, `expected a refusal with ${expected}`).toBeInstanceOf(LedgerError);
		expect((error as LedgerError).code).toBe(expected);
		return null;
	}
	return operation();
}

/** Compares the database with the model and checks the ledger invariants. */
async function checkInvariants(m: Model, r: Real) {
	const now = new Date(m.now);
	const expected = figures(m);
	const view = await balanceOf(r.db, r.userId, now);
	expect({
		balance: view.balance,
		spendable: view.spendable,
		reserved: view.reserved,
		available: view.available
	}).toEqual(expected);
	expect(view.available).toBeGreaterThanOrEqual(0);
	for (const pkg of m.packages.filter((p) => isLive(p, m.now))) {
		const shown = view.packages.find((p) => p.id === pkg.id);
		expect(shown?.status).toBe(pkg.frozen ? 'frozen' : 'active');
		expect(shown?.dailyLimit).toBe(pkg.dailyLimit ?? undefined);
		expect(shown?.todayRemaining).toBe(pkg.dailyLimit === null ? undefined : roomOf(pkg, m.now));
	}

	// The ledger's own usage rows (one query per step: this runs after every command), checked
	// without the model: no daily limit passed on any UTC day, no frozen package spent since it
	// froze, and the membership's zero-credit rows as the model paid them.
	const usage = await r.db
		.select({
			packageId: creditTransaction.packageId,
			amount: creditTransaction.amount,
			createdAt: creditTransaction.createdAt,
			metadata: creditTransaction.metadata
		})
		.from(creditTransaction)
		.where(sql`${creditTransaction.userId} = ${r.userId} and ${creditTransaction.type} = 'usage'`);
	const givenByPackageDay = new Map<string, number>();
	const membershipByDay = new Map<number, number>();
	const usageRows = new Map<string, number>();
	for (const row of usage) {
		const day = dayOf(row.createdAt.getTime());
		if (row.packageId === null) {
			expect(row.amount).toBe(0);
			const tokens = Number(row.metadata.membershipTokens);
			membershipByDay.set(day, (membershipByDay.get(day) ?? 0) + tokens);
			continue;
		}
		const key = `${row.packageId}@${day}`;
		givenByPackageDay.set(key, (givenByPackageDay.get(key) ?? 0) - row.amount);
		usageRows.set(row.packageId, (usageRows.get(row.packageId) ?? 0) + 1);
	}
	for (const [key, given] of givenByPackageDay) {
		const pkg = m.packages.find((p) => p.id === key.split('@')[0]);
		if (pkg?.dailyLimit != null) expect(given, key).toBeLessThanOrEqual(pkg.dailyLimit);
	}
	for (const pkg of m.packages.filter((p) => p.frozen)) {
		expect(usageRows.get(pkg.id) ?? 0).toBe(pkg.usageRowsAtFreeze);
	}
	expect(membershipByDay).toEqual(
		new Map([...m.membershipByDay].filter(([, tokens]) => tokens > 0))
	);
	for (const tokens of m.membershipByDay.values()) expect(tokens).toBeLessThanOrEqual(CAP);
	expect(await membershipTokensToday(r.db, r.userId, now)).toBe(membershipUsed(m));

	const packages = await r.db
		.select()
		.from(creditPackage)
		.where(eq(creditPackage.userId, r.userId));
	expect(Object.fromEntries(packages.map((p) => [p.id, p.remainingCredits]))).toEqual(
		Object.fromEntries(m.packages.map((p) => [p.id, p.remaining]))
	);
	let live = 0;
	for (const pkg of packages) {
		expect(pkg.remainingCredits).toBeGreaterThanOrEqual(0);
		expect(pkg.remainingCredits).toBeLessThanOrEqual(pkg.initialCredits);
		if (pkg.expiresAt === null || pkg.expiresAt.getTime() > m.now) live += pkg.remainingCredits;
	}
	expect(live).toBe(view.balance);

	const holds = await r.db
		.select({
			id: creditHold.id,
			status: creditHold.status,
			charged: creditHold.chargedCredits,
			membershipTokens: creditHold.membershipTokens
		})
		.from(creditHold)
		.where(eq(creditHold.userId, r.userId));
	expect(
		Object.fromEntries(holds.map((h) => [h.id, [h.status, h.charged, h.membershipTokens]]))
	).toEqual(
		Object.fromEntries(m.holds.map((h) => [h.id, [h.status, h.charged, h.membershipTokens]]))
	);

	const [ledger] = await r.db
		.select({
			rows: sql<number>`count(*)::int`,
			lowest: sql<number | null>`min(${creditTransaction.balanceAfter})`
		})
		.from(creditTransaction)
		.where(eq(creditTransaction.userId, r.userId));
	if (ledger.rows > 0) expect(Number(ledger.lowest)).toBeGreaterThanOrEqual(0);

	expect((await verify(r.db, { userId: r.userId })).drifts).toEqual([]);
}

async function usageRowsOn(r: Real, packageId: string): Promise<number> {
	const [row] = await r.db
		.select({ n: sql<number>`count(*)::int` })
		.from(creditTransaction)
		.where(
			sql`${creditTransaction.packageId} = ${packageId} and ${creditTransaction.type} = 'usage'`
		);
	return Number(row.n);
}

const newPackage = (
	id: string,
	credits: number,
	expiresAt: number | null,
	createdAt: number,
	dailyLimit: number | null = null
): ModelPackage => ({
	id,
	initial: credits,
	remaining: credits,
	expiresAt,
	createdAt,
	dailyLimit,
	frozen: false,
	usageByDay: new Map()
});

type LedgerCommand = fc.AsyncCommand<Model, Real>;

const days = (ms: number) => `${+(ms / DAY).toFixed(3)}d`;

class GrantCommand implements LedgerCommand {
	constructor(
		readonly credits: number,
		readonly expiryDays: number | null
	) {}
	check = () => true;
	async run(m: Model, r: Real) {
		const input: GrantInput = {
			userId: r.userId,
			source: 'purchase',
			name: 'Pack',
			credits: this.credits,
			expiresAt: this.expiryDays ? new Date(m.now + this.expiryDays * DAY) : null,
			key: r.nextKey(),
			now: new Date(m.now)
		};
		const valid = isWholeAtLeast(this.credits, 1);
		const result = await outcome(valid ? null : 'invalid_amount', () => grant(r.db, input));
		if (result) {
			m.packages.push(
				newPackage(result.packageId, this.credits, input.expiresAt?.getTime() ?? null, m.now)
			);
			expect(result).toMatchObject({ replayed: false, balanceAfter: figures(m).balance });
			m.grants.push({ input, result });
		}
		await checkInvariants(m, r);
	}
	toString = () => `grant(${this.credits}, expires ${this.expiryDays ?? 'never'})`;
}

class ReplayGrantCommand implements LedgerCommand {
	constructor(readonly pick: number) {}
	check = (m: Readonly<Model>) => m.grants.length > 0;
	async run(m: Model, r: Real) {
		const original = m.grants[this.pick % m.grants.length];
		const again = await grant(r.db, original.input);
		expect(again).toEqual({ ...(original.result as object), replayed: true });
		await checkInvariants(m, r);
	}
	toString = () => `replayGrant(#${this.pick})`;
}

class ReserveCommand implements LedgerCommand {
	constructor(
		readonly upTo: number,
		readonly ttlHours: number | null,
		/** A reply a membership may pay for: its worst case in tokens (rate 1 credit / 1,000). */
		readonly membershipTokens: number | null = null
	) {}
	check = () => true;
	async run(m: Model, r: Real) {
		const { available } = figures(m);
		let setAside = 0;
		let wanted = this.upTo;
		if (this.membershipTokens !== null && m.membership) {
			setAside = Math.min(this.membershipTokens, Math.max(0, CAP - membershipUsed(m)));
			wanted = Math.min(this.upTo, Math.ceil((this.membershipTokens - setAside) / 1000));
		}
		const amount = Math.min(wanted, available);
		const expected = !isWholeAtLeast(this.upTo, 1)
			? 'invalid_amount'
			: amount < 1 && setAside === 0
				? 'insufficient_credits'
				: null;
		const ttlMs = this.ttlHours ? this.ttlHours * HOUR : undefined;
		const result = await outcome(expected, () =>
			reserve(r.db, {
				userId: r.userId,
				upTo: this.upTo,
				key: r.nextKey(),
				ttlMs,
				now: new Date(m.now),
				...(this.membershipTokens === null
					? {}
					: { membership: { tokens: this.membershipTokens, cap: CAP, rate: 1 } })
			})
		);
		if (result) {
			expect(result).toMatchObject({ amount, membershipTokens: setAside, replayed: false });
			m.holds.push({
				id: result.holdId,
				amount,
				membershipTokens: setAside,
				status: 'pending',
				charged: null,
				expiresAt: m.now + (ttlMs ?? HOLD_TTL)
			});
		}
		await checkInvariants(m, r);
	}
	toString = () =>
		`reserve(upTo ${this.upTo}, ttl ${this.ttlHours ? `${this.ttlHours}h` : 'default'}${this.membershipTokens === null ? '' : `, membership ${this.membershipTokens} tokens`})`;
}

class SettleCommand implements LedgerCommand {
	constructor(
		readonly pick: number,
		readonly cost: number,
		/** A key of its own rather than the hold's default `settle:<id>`. */
		readonly freshKey: boolean,
		/** Tokens the membership paid for (cut to what the hold set aside). */
		readonly membershipTokens = 0
	) {}
	check = (m: Readonly<Model>) => m.holds.length > 0;
	async run(m: Model, r: Real) {
		const hold = m.holds[this.pick % m.holds.length];
		const key = this.freshKey ? r.nextKey() : undefined;
		const run = () =>
			settle(r.db, {
				holdId: hold.id,
				cost: this.cost,
				key,
				now: new Date(m.now),
				...(this.membershipTokens ? { membershipTokens: this.membershipTokens } : {})
			});

		if (!isWholeAtLeast(this.cost, 0)) {
			await outcome('invalid_amount', run);
		} else if (!this.freshKey && hold.settledByDefaultKey) {
			// The same key again: the first result when the arguments match, else a conflict.
			if (
				hold.settledByDefaultKey.cost === this.cost &&
				hold.settledByDefaultKey.membershipTokens === this.membershipTokens
			) {
				expect(await run()).toEqual({
					...(hold.settledByDefaultKey.result as object),
					replayed: true
				});
			} else {
				await outcome('idempotency_conflict', run);
			}
		} else if (hold.status !== 'pending') {
			await outcome('hold_already_resolved', run);
		} else {
			const { spendable, reserved } = figures(m);
			const charged = Math.max(0, Math.min(this.cost, spendable - (reserved - hold.amount)));
			const paid = Math.min(this.membershipTokens, hold.membershipTokens);
			const result = await run();
			spendModel(m, charged, true);
			if (paid > 0) {
				m.membershipByDay.set(dayOf(m.now), (m.membershipByDay.get(dayOf(m.now)) ?? 0) + paid);
			}
			hold.status = 'settled';
			hold.charged = charged;
			expect(result).toMatchObject({
				charged,
				shortfall: this.cost - charged,
				membershipTokens: paid,
				balanceAfter: figures(m).balance,
				replayed: false
			});
			if (!this.freshKey) {
				hold.settledByDefaultKey = {
					cost: this.cost,
					membershipTokens: this.membershipTokens,
					result
				};
			}
		}
		await checkInvariants(m, r);
	}
	toString = () =>
		`settle(hold #${this.pick}, cost ${this.cost}${this.membershipTokens ? `, membership ${this.membershipTokens} tokens` : ''}${this.freshKey ? ', fresh key' : ''})`;
}

class VoidCommand implements LedgerCommand {
	constructor(readonly pick: number) {}
	check = (m: Readonly<Model>) => m.holds.length > 0;
	async run(m: Model, r: Real) {
		const hold = m.holds[this.pick % m.holds.length];
		const run = () => voidHold(r.db, { holdId: hold.id, now: new Date(m.now) });
		if (hold.voidedByDefaultKey) {
			expect(await run()).toEqual({
				...(hold.voidedByDefaultKey.result as object),
				replayed: true
			});
		} else if (hold.status !== 'pending') {
			await outcome('hold_already_resolved', run);
		} else {
			const result = await run();
			expect(result).toMatchObject({ status: 'voided', replayed: false });
			hold.status = 'voided';
			hold.charged = 0;
			hold.voidedByDefaultKey = { result };
		}
		await checkInvariants(m, r);
	}
	toString = () => `void(hold #${this.pick})`;
}

class TickCommand implements LedgerCommand {
	constructor(
		readonly hours: number,
		readonly doSweep: boolean
	) {}
	check = () => true;
	async run(m: Model, r: Real) {
		m.now += this.hours * HOUR;
		// Expired packages stop counting at once; the sweep only writes it down.
		await checkInvariants(m, r);
		if (!this.doSweep) return;
		let expiredPackages = 0;
		let forfeited = 0;
		for (const pkg of m.packages) {
			if (pkg.remaining > 0 && pkg.expiresAt !== null && pkg.expiresAt <= m.now) {
				expiredPackages++;
				forfeited += pkg.remaining;
				pkg.remaining = 0;
			}
		}
		let expiredHolds = 0;
		for (const hold of m.holds) {
			if (hold.status === 'pending' && hold.expiresAt <= m.now) {
				hold.status = 'expired';
				hold.charged = 0;
				expiredHolds++;
			}
		}
		const result = await sweep(r.db, { now: new Date(m.now) });
		// The sweep covers every user in the database (earlier runs too): at least ours.
		expect(result.expiredPackages).toBeGreaterThanOrEqual(expiredPackages);
		expect(result.forfeitedCredits).toBeGreaterThanOrEqual(forfeited);
		expect(result.expiredHolds).toBeGreaterThanOrEqual(expiredHolds);
		await checkInvariants(m, r);
	}
	toString = () => `tick(+${days(this.hours * HOUR)}${this.doSweep ? ', sweep' : ''})`;
}

class AdjustCommand implements LedgerCommand {
	constructor(
		readonly mode: AdjustMode,
		readonly credits: number,
		readonly expiryDays: number | null
	) {}
	check = () => true;
	async run(m: Model, r: Real) {
		const { balance, reserved } = figures(m);
		const valid =
			this.mode === 'set' ? isWholeAtLeast(this.credits, 0) : isWholeAtLeast(this.credits, 1);
		const delta =
			this.mode === 'add'
				? this.credits
				: this.mode === 'subtract'
					? -this.credits
					: this.credits - balance;
		const expected = !valid
			? 'invalid_amount'
			: delta < 0 && -delta > balance - reserved
				? 'insufficient_credits'
				: null;
		const expiresAt = this.expiryDays ? new Date(m.now + this.expiryDays * DAY) : null;
		const result = await outcome(expected, () =>
			adjust(r.db, {
				userId: r.userId,
				mode: this.mode,
				credits: this.credits,
				reason: 'Model test',
				actor: 'fast-check',
				key: r.nextKey(),
				expiresAt,
				now: new Date(m.now)
			})
		);
		if (result) {
			if (delta > 0) {
				expect(result.packageId).toEqual(expect.any(String));
				m.packages.push(newPackage(result.packageId!, delta, expiresAt?.getTime() ?? null, m.now));
			} else if (delta < 0) {
				spendModel(m, -delta);
			}
			expect(result).toMatchObject({ delta, balanceAfter: figures(m).balance, replayed: false });
		}
		await checkInvariants(m, r);
	}
	toString = () =>
		`adjust(${this.mode} ${this.credits}${this.expiryDays ? `, expires ${this.expiryDays}d` : ''})`;
}

class RefundCommand implements LedgerCommand {
	constructor(
		readonly pick: number,
		readonly credits: number
	) {}
	check = (m: Readonly<Model>) => m.packages.length > 0;
	async run(m: Model, r: Real) {
		const pkg = m.packages[this.pick % m.packages.length];
		const valid = isWholeAtLeast(this.credits, 1);
		const result = await outcome(valid ? null : 'invalid_amount', () =>
			revokeFromPackage(r.db, {
				packageId: pkg.id,
				credits: this.credits,
				key: r.nextKey(),
				reason: 'Refund',
				now: new Date(m.now)
			})
		);
		if (result) {
			const revoked = Math.min(this.credits, pkg.remaining);
			pkg.remaining -= revoked;
			expect(result).toMatchObject({
				revoked,
				shortfall: this.credits - revoked,
				balanceAfter: figures(m).balance,
				replayed: false
			});
		}
		await checkInvariants(m, r);
	}
	toString = () => `refund(package #${this.pick}, ${this.credits})`;
}

/** A plan pool: a package with a daily limit, and now and then bonus credits beside it. */
class GrantPoolCommand implements LedgerCommand {
	constructor(
		readonly credits: number,
		readonly expiryDays: number | null,
		readonly dailyLimit: number,
		readonly bonus: number | null
	) {}
	check = () => true;
	async run(m: Model, r: Real) {
		const input: GrantInput = {
			userId: r.userId,
			source: 'subscription',
			name: 'Plan pool',
			credits: this.credits,
			expiresAt: this.expiryDays ? new Date(m.now + this.expiryDays * DAY) : null,
			dailyLimit: this.dailyLimit,
			...(this.bonus ? { bonus: { credits: this.bonus, name: 'Plan bonus' } } : {}),
			key: r.nextKey(),
			now: new Date(m.now)
		};
		const result = await grant(r.db, input);
		const expiresAt = input.expiresAt?.getTime() ?? null;
		m.packages.push(newPackage(result.packageId, this.credits, expiresAt, m.now, this.dailyLimit));
		if (this.bonus) {
			// The bonus package comes with its parent: same expiry and the same daily limit.
			expect(result.bonus?.packageId).toEqual(expect.any(String));
			m.packages.push(
				newPackage(result.bonus!.packageId, this.bonus, expiresAt, m.now, this.dailyLimit)
			);
		} else {
			expect(result.bonus).toBeUndefined();
		}
		expect(result).toMatchObject({ replayed: false, balanceAfter: figures(m).balance });
		m.grants.push({ input, result });
		await checkInvariants(m, r);
	}
	toString = () =>
		`grantPool(${this.credits}, ${this.dailyLimit}/day, expires ${this.expiryDays ?? 'never'}${this.bonus ? `, bonus ${this.bonus}` : ''})`;
}

/** What the subscription webhooks do to a plan pool: freeze it (revoked, ended) or thaw it. */
class FreezeCommand implements LedgerCommand {
	constructor(
		readonly pick: number,
		readonly frozen: boolean
	) {}
	check = (m: Readonly<Model>) => m.packages.length > 0;
	async run(m: Model, r: Real) {
		const pkg = m.packages[this.pick % m.packages.length];
		await r.db
			.update(creditPackage)
			.set({ frozenAt: this.frozen ? new Date(m.now) : null })
			.where(eq(creditPackage.id, pkg.id));
		pkg.frozen = this.frozen;
		pkg.usageRowsAtFreeze = this.frozen ? await usageRowsOn(r, pkg.id) : undefined;
		await checkInvariants(m, r);
	}
	toString = () => `${this.frozen ? 'freeze' : 'thaw'}(package #${this.pick})`;
}

/** The membership subscription starts (active, paid for a year) or ends. */
class MembershipCommand implements LedgerCommand {
	constructor(readonly active: boolean) {}
	check = () => true;
	async run(m: Model, r: Real) {
		const row = {
			status: this.active ? 'active' : 'canceled',
			endedAt: this.active ? null : new Date(m.now),
			eventAt: new Date(m.now)
		};
		await r.db
			.insert(billingSubscription)
			.values({
				id: `sub_${r.userId}`,
				userId: r.userId,
				polarProductId: 'prod_membership',
				productName: 'Membership',
				membership: true,
				currentPeriodStart: new Date(t0),
				currentPeriodEnd: new Date(t0 + 365 * DAY),
				...row
			})
			.onConflictDoUpdate({ target: billingSubscription.id, set: row });
		m.membership = this.active;
		await checkInvariants(m, r);
	}
	toString = () => `membership(${this.active ? 'active' : 'ended'})`;
}

/** Mostly valid amounts, now and then one the ledger must refuse as invalid. */
const amount = (min: number, max: number, invalid: number[]) =>
	fc.oneof(
		{ weight: 12, arbitrary: fc.integer({ min, max }) },
		{ weight: 1, arbitrary: fc.constantFrom(...invalid) }
	);
const expiryDays = fc.option(fc.integer({ min: 1, max: 10 }), { nil: null });
const pick = fc.nat({ max: 1_000 });

const commands = fc.commands(
	[
		fc.tuple(amount(1, 50, [0, -3, 2.5]), expiryDays).map(([c, d]) => new GrantCommand(c, d)),
		fc.tuple(amount(1, 50, [0]), expiryDays).map(([c, d]) => new GrantCommand(c, d)),
		pick.map((p) => new ReplayGrantCommand(p)),
		fc
			.tuple(amount(1, 20, [0, -1]), fc.option(fc.integer({ min: 1, max: 48 }), { nil: null }))
			.map(([u, ttl]) => new ReserveCommand(u, ttl)),
		fc
			.tuple(pick, amount(0, 25, [-1, 1.5]), fc.boolean())
			.map(([p, c, fresh]) => new SettleCommand(p, c, fresh)),
		fc
			.tuple(pick, fc.integer({ min: 0, max: 25 }), fc.boolean())
			.map(([p, c, fresh]) => new SettleCommand(p, c, fresh)),
		pick.map((p) => new VoidCommand(p)),
		fc
			.tuple(
				// Whole days often, so that a jump lands exactly on an expiry now and then.
				fc.oneof(
					fc.integer({ min: 0, max: 5 }).map((d) => d * 24),
					fc.integer({ min: 0, max: 120 })
				),
				fc.boolean()
			)
			.map(([h, s]) => new TickCommand(h, s)),
		fc
			.tuple(
				fc.constantFrom<AdjustMode>('add', 'subtract', 'set'),
				amount(0, 40, [-2, 0.5]),
				expiryDays
			)
			.map(([mode, c, d]) => new AdjustCommand(mode, c, d)),
		fc.tuple(pick, amount(1, 30, [0])).map(([p, c]) => new RefundCommand(p, c)),
		fc
			.tuple(
				fc.integer({ min: 1, max: 60 }),
				expiryDays,
				fc.integer({ min: 1, max: 12 }),
				fc.option(fc.integer({ min: 1, max: 10 }), { nil: null })
			)
			.map(([c, d, limit, bonus]) => new GrantPoolCommand(c, d, limit, bonus)),
		fc.tuple(pick, fc.boolean()).map(([p, frozen]) => new FreezeCommand(p, frozen)),
		fc.constantFrom(true, true, false).map((active) => new MembershipCommand(active)),
		// Twice: concurrent member replies reaching the cap together are the interesting case.
		...[1, 2].map(() =>
			fc
				.tuple(
					fc.integer({ min: 1, max: 20 }),
					fc.option(fc.integer({ min: 1, max: 48 }), { nil: null }),
					fc.integer({ min: 1, max: 20_000 })
				)
				.map(([u, ttl, tokens]) => new ReserveCommand(u, ttl, tokens))
		),
		fc
			.tuple(
				pick,
				fc.integer({ min: 0, max: 25 }),
				fc.boolean(),
				fc.integer({ min: 1, max: 25_000 })
			)
			.map(([p, c, fresh, tokens]) => new SettleCommand(p, c, fresh, tokens))
	],
	{ maxCommands: 40, size: 'max' }
);

describe.each(databaseKinds)('the credits ledger against its model on %s', (kind) => {
	const database = useTestDatabase(kind);

	it(`agrees with the model after every step (FC_SEED=${SEED}, ${RUNS} runs)`, async () => {
		const db = database().db;
		let runs = 0;
		await fc.assert(
			fc.asyncProperty(commands, async (cmds) => {
				runs++;
				const userId = await createUser(db);
				let keys = 0;
				const setup = () => ({
					model: {
						now: t0,
						packages: [],
						holds: [],
						grants: [],
						membership: false,
						membershipByDay: new Map()
					} as Model,
					real: { db, userId, nextKey: () => `${userId}:op${keys++}` } as Real
				});
				await fc.asyncModelRun(setup, cmds);
			}),
			{ seed: SEED, path: process.env.FC_PATH || undefined, numRuns: RUNS }
		);
		// A replayed FC_PATH runs just the one counterexample.
		expect(runs).toBeGreaterThanOrEqual(process.env.FC_PATH ? 1 : RUNS);
	}, 600_000);
});
