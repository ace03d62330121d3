import { json } from '@sveltejs/kit';
import type { z } from 'zod';
import { LedgerError, type LedgerErrorCode } from '../credits';
import { DATABASE_UNAVAILABLE_MESSAGE, isDatabaseUnavailable } from '../db/availability';
import { AppError } from '../errors';
import { log } from '../log';

const LEDGER_STATUS: Record<LedgerErrorCode, number> = {
	insufficient_credits: 402,
	too_many_holds: 429,
	idempotency_conflict: 409,
	hold_already_resolved: 409,
	hold_not_found: 404,
	package_not_found: 404,
	user_not_found: 404,
	invalid_amount: 400
};

/**
 * The JSON API's error body: `{ error: { code, message, ...details } }`; a numeric
 * `details.retryAfterSeconds` is also sent as a `Retry-After` header.
 */
export function errorResponse(
	status: number,
	code: string,
	message: string,
	details: Record<string, unknown> = {}
) {
	// A refusal that says when to come back (a rate limit) also says it the standard way.
	const retryAfter = details.retryAfterSeconds;
	const headers =
		typeof retryAfter === 'number' ? { 'retry-after': String(retryAfter) } : undefined;
	return json({ error: { code, message, ...details } }, { status, headers });
}

/**
 * Maps a domain error to its JSON response, in one place. An unreachable database is a 503
 * (nothing was done; clients and Polar try again). Anything else is re-thrown and becomes a
 * logged 500 without details (hooks.server.ts).
 */
export function apiErrorResponse(error: unknown): Response {
	if (error instanceof AppError) {
		return errorResponse(error.status, error.code, error.message, error.details);
	}
	if (error instanceof LedgerError) {
		return errorResponse(LEDGER_STATUS[error.code], error.code, error.message, error.details);
	}
	if (isDatabaseUnavailable(error)) {
		log.error({ err: error }, '[db] unavailable');
		return databaseUnavailableResponse();
	}
	throw error;
}

/** 503 `database_unavailable`, with a `Retry-After` so well-behaved clients wait a little. */
export function databaseUnavailableResponse(): Response {
	return errorResponse(503, 'database_unavailable', DATABASE_UNAVAILABLE_MESSAGE, {
		retryAfterSeconds: 5
	});
}

/** A 400 for input that failed its zod schema, naming the first bad field. */
export function invalidInput(error: z.ZodError): AppError {
	const issue = error.issues[0];
	const field = String(issue.path[0] ?? 'body');
	return new AppError(400, 'invalid_request', `${field}: ${issue.message}`, { field });
}

/** The signed-in user of an API request, or a 401. */
export function requireApiUser(locals: App.Locals): NonNullable<App.Locals['user']> {
	if (!locals.user) throw new AppError(401, 'unauthorized', 'Sign in to use this endpoint.');
	return locals.user;
}

/** The signed-in admin of an admin API request, or a 401 / 403 (hooks refuse first; this is the second door). */
export function requireApiAdmin(locals: App.Locals): NonNullable<App.Locals['user']> {
	const user = requireApiUser(locals);
	if (user.role !== 'admin') throw new AppError(403, 'forbidden', 'This is for administrators.');
	return user;
}

/**
 * Requests during which the database could not be reached (keyed by `event.locals`, one object
 * per request). hooks.server.ts records them: a session lookup that failed is not a signed-out
 * visitor, and an unexpected error caused by the outage is a 503, not a 500.
 */
const outages = new WeakSet<object>();

/** Records the outage when `error` is one; says whether it was. */
export function noteDatabaseOutage(locals: App.Locals, error: unknown): boolean {
	if (!isDatabaseUnavailable(error)) return false;
	outages.add(locals);
	return true;
}

export function hadDatabaseOutage(locals: App.Locals): boolean {
	return outages.has(locals);
}
