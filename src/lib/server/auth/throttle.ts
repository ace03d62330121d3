import { createHash } from 'node:crypto';
import { fail, type RequestEvent } from '@sveltejs/kit';
import type { AuthLimitsConfig } from '../config';
import type { Db } from '../db/client';
import {
	blockedFor,
	clearFailures,
	hit,
	hitAll,
	recordFailure,
	type Backoff,
	type Verdict
} from '../security/rate-limit';

/** The attempts a stranger can make against accounts; each has its own buckets. */
export type AuthAction =
	'sign-in' | 'sign-up' | 'password-reset' | 'verification-email' | 'change-password';

const WINDOW_SECONDS = 60;

/**
 * Counts one attempt of `action` per client address and per account, and refuses it when
 * either is over the limit or the account is paused after repeated failed sign-ins. Called by
 * the forms and by hooks.server.ts for `/api/auth/*`, so both doors share one count — kept in
 * PostgreSQL, so every instance shares it too.
 */
export async function admitAuthAttempt(
	db: Db,
	limits: AuthLimitsConfig,
	attempt: { action: AuthAction; address: string; account: string }
): Promise<Verdict> {
	const account = accountKey(attempt.account);
	if (attempt.action === 'sign-in' && limits.failuresBeforeBackoff > 0) {
		const paused = await blockedFor(db, failuresKey(account));
		if (paused > 0) return { allowed: false, retryAfterSeconds: paused };
	}
	const limit = { max: limits.perMinute, windowSeconds: WINDOW_SECONDS };
	return hitAll(db, [
		{ key: `${attempt.action}:address:${addressBucket(attempt.address)}`, limit },
		{ key: `${attempt.action}:account:${account}`, limit }
	]);
}

/**
 * Whether one more account email may go to `email` this hour. Strangers can trigger these
 * (sign-up, password reset, "resend"), so each address gets at most `emailsPerHour` of them,
 * whichever form asked and whether or not an account exists.
 */
export async function admitAccountEmail(
	db: Db,
	limits: AuthLimitsConfig,
	email: string
): Promise<boolean> {
	const verdict = await hit(db, `account-email:${accountKey(email)}`, {
		max: limits.emailsPerHour,
		windowSeconds: 60 * 60
	});
	return verdict.allowed;
}

/** A wrong password: past the free failures, the account pauses twice as long each time. */
export async function recordSignInFailure(
	db: Db,
	limits: AuthLimitsConfig,
	email: string
): Promise<void> {
	await recordFailure(db, failuresKey(accountKey(email)), backoffOf(limits));
}

/** A successful sign-in forgets the account's failures. */
export async function recordSignInSuccess(db: Db, email: string): Promise<void> {
	await clearFailures(db, failuresKey(accountKey(email)));
}

/** The user-facing "wait" sentence of a refusal. */
export function waitMessage(seconds: number): string {
	const wait =
		seconds < 90
			? `${seconds} second${seconds === 1 ? '' : 's'}`
			: `${Math.ceil(seconds / 60)} minutes`;
	return `Too many attempts. Please wait ${wait} and try again.`;
}

function backoffOf(limits: AuthLimitsConfig): Backoff {
	return {
		freeFailures: limits.failuresBeforeBackoff,
		baseSeconds: 30,
		maxSeconds: 15 * 60,
		memorySeconds: 60 * 60
	};
}

const failuresKey = (account: string) => `sign-in-failures:account:${account}`;

/** Accounts are keyed by a hash of the normalised email: the table holds no addresses. */
function accountKey(email: string): string {
	return createHash('sha256').update(email.trim().toLowerCase()).digest('hex').slice(0, 32);
}

/**
 * The bucket of a client address. One IPv6 subscriber usually holds a whole /64, so IPv6
 * addresses count per /64 prefix; IPv4-mapped IPv6 counts as the IPv4 address it is.
 */
export function addressBucket(address: string): string {
	const value = address.trim().toLowerCase();
	const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(value);
	if (mapped) return mapped[1];
	if (!value.includes(':')) return value;
	const [head, tail = ''] = value.split('%')[0].split('::');
	const left = head ? head.split(':') : [];
	const right = value.includes('::') && tail ? tail.split(':') : [];
	const missing = 8 - left.length - right.length;
	const groups = [...left, ...Array(Math.max(0, missing)).fill('0'), ...right];
	return `${groups
		.slice(0, 4)
		.map((group) => group.replace(/^0+(?=.)/, ''))
		.join(':')}::/64`;
}

/**
 * For the auth forms: null when the attempt is admitted, else the 429 the form shows inline
 * (with `Retry-After`), keeping what the user typed.
 */
export async function throttledForm<V>(
	event: Pick<RequestEvent, 'getClientAddress' | 'setHeaders'>,
	deps: { db: Db; limits: AuthLimitsConfig },
	attempt: { action: AuthAction; account: string; values: V }
) {
	const admitted = await admitAuthAttempt(deps.db, deps.limits, {
		action: attempt.action,
		address: event.getClientAddress(),
		account: attempt.account
	});
	if (admitted.allowed) return null;
	event.setHeaders({ 'retry-after': String(admitted.retryAfterSeconds) });
	return fail(429, {
		values: attempt.values,
		errors: { form: waitMessage(admitted.retryAfterSeconds) } as Record<string, string>
	});
}
