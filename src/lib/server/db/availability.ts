import { setTimeout as sleep } from 'node:timers/promises';

/** What the API says while the database cannot be reached (503 `database_unavailable`). */
export const DATABASE_UNAVAILABLE_MESSAGE =
	'The service is temporarily unavailable. Try again in a moment.';

/**
 * Node socket errors that mean "no usable connection to the database", as postgres.js passes
 * them through (an `ECONNREFUSED` from a stopped server, an `ECONNRESET` from a killed one).
 */
const SOCKET_CODES = new Set([
	'ECONNREFUSED',
	'ECONNRESET',
	'EPIPE',
	'ETIMEDOUT',
	'EHOSTUNREACH',
	'ENETUNREACH',
	'ENOTFOUND',
	'EAI_AGAIN'
]);

/** postgres.js's own connection errors (`Errors.connection` in its source). */
const DRIVER_CODES = new Set([
	'CONNECTION_CLOSED',
	'CONNECTION_ENDED',
	'CONNECTION_DESTROYED',
	'CONNECT_TIMEOUT'
]);

/**
 * SQLSTATEs of a server that is going away or not there yet: class 08 (connection exception),
 * 57P01 admin_shutdown (also `pg_terminate_backend`), 57P02 crash_shutdown, 57P03
 * cannot_connect_now (starting up or shutting down), and 53300 too_many_connections.
 */
function isUnavailableSqlState(code: string): boolean {
	return /^08[0-9A-Z]{3}$/.test(code) || ['57P01', '57P02', '57P03', '53300'].includes(code);
}

/**
 * Whether this error means the database could not be reached (a stopped or restarting server, a
 * cut connection) rather than a bad query. drizzle and better-auth wrap the driver's error, and a
 * refused connection to several addresses is an `AggregateError`: the whole `cause` / `errors`
 * tree is searched.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
	const seen = new Set<unknown>();
	const queue: unknown[] = [error];
	while (queue.length > 0) {
		const e = queue.shift();
		if (!e || typeof e !== 'object' || seen.has(e)) continue;
		seen.add(e);
		const code = (e as { code?: unknown }).code;
		if (typeof code === 'string') {
			if (SOCKET_CODES.has(code) || DRIVER_CODES.has(code)) return true;
			if (/^[0-9A-Z]{5}$/.test(code) && isUnavailableSqlState(code)) return true;
		}
		queue.push((e as { cause?: unknown }).cause);
		const nested = (e as { errors?: unknown }).errors;
		if (Array.isArray(nested)) queue.push(...nested);
	}
	return false;
}

/**
 * Runs `fn` again, with growing pauses, while it fails because the database is unreachable, for
 * up to `timeoutMs`; any other error, or the last one at the deadline, is thrown. Only for work
 * that is idempotent (a settlement keyed by its hold id): a connection lost after the commit
 * but before the answer makes the retry a replay, never a second write.
 */
export async function retryWhileUnavailable<T>(
	fn: () => Promise<T>,
	options: { timeoutMs: number; firstDelayMs?: number; maxDelayMs?: number }
): Promise<T> {
	const deadline = Date.now() + options.timeoutMs;
	let delay = options.firstDelayMs ?? 100;
	const maxDelay = options.maxDelayMs ?? 2_000;
	for (;;) {
		try {
			return await fn();
		} catch (error) {
			if (!isDatabaseUnavailable(error) || Date.now() + delay > deadline) throw error;
			await sleep(delay);
			delay = Math.min(delay * 2, maxDelay);
		}
	}
}
