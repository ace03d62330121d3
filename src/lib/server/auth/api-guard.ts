import type { RequestEvent } from '@sveltejs/kit';
import type { AuthLimitsConfig } from '../config';
import type { Db } from '../db/client';
import { apiErrorResponse, errorResponse } from '../http/errors';
import { readJson } from '../http/read-body';
import { fieldErrors, signInSchema, signUpSchema } from './credentials';
import {
	admitAuthAttempt,
	recordSignInFailure,
	recordSignInSuccess,
	waitMessage,
	type AuthAction
} from './throttle';

export const AUTH_API_PREFIX = '/api/auth';

/**
 * The better-auth endpoints served over HTTP, and the throttled attempt each one is. Every other
 * `/api/auth/*` path answers 404 (and better-auth's `disabledPaths` lists the rest as well), so
 * an endpoint a plugin adds is never exposed by accident.
 */
export const AUTH_HTTP_ENDPOINTS: Record<string, AuthAction | null> = {
	'/sign-in/email': 'sign-in',
	'/sign-up/email': 'sign-up',
	'/sign-out': null,
	'/get-session': null
};

// A sign-up is a few hundred bytes; anything far bigger is refused before it is parsed.
const MAX_BODY_BYTES = 16 * 1024;

export function isAuthApiPath(pathname: string): boolean {
	return pathname === AUTH_API_PREFIX || pathname.startsWith(`${AUTH_API_PREFIX}/`);
}

/**
 * `/api/auth/*` as the forms see it: the same input rules, the same throttle (per client address
 * and per account, with backoff after failed sign-ins), counted in the same buckets. better-auth's
 * own limiter is off: it keys on a header the client controls and lives in one process.
 */
export async function guardAuthApi(
	event: RequestEvent,
	resolve: (event: RequestEvent) => Response | Promise<Response>,
	deps: { db: Db; limits: AuthLimitsConfig }
): Promise<Response> {
	const endpoint = event.url.pathname.slice(AUTH_API_PREFIX.length);
	if (!Object.hasOwn(AUTH_HTTP_ENDPOINTS, endpoint)) {
		return errorResponse(404, 'not_found', 'There is no such endpoint.');
	}
	const action = AUTH_HTTP_ENDPOINTS[endpoint];
	if (!action || event.request.method !== 'POST') return resolve(event);

	let body: unknown;
	try {
		body = await readJson(event.request.clone(), { maxBytes: MAX_BODY_BYTES });
	} catch (error) {
		return apiErrorResponse(error);
	}
	if (body === undefined) return errorResponse(400, 'invalid_request', 'The body must be JSON.');
	const parsed = (action === 'sign-up' ? signUpSchema : signInSchema).safeParse(body);
	if (!parsed.success) {
		const [field, message] = Object.entries(fieldErrors(parsed.error))[0];
		return errorResponse(400, 'invalid_request', `${field}: ${message}`, { field });
	}
	const email = parsed.data.email;
	const admitted = await admitAuthAttempt(deps.db, deps.limits, {
		action,
		address: event.getClientAddress(),
		account: email
	});
	if (!admitted.allowed) {
		const response = errorResponse(429, 'rate_limited', waitMessage(admitted.retryAfterSeconds));
		response.headers.set('retry-after', String(admitted.retryAfterSeconds));
		return response;
	}
	const response = await resolve(event);
	if (action === 'sign-in') {
		if (response.status === 401) await recordSignInFailure(deps.db, deps.limits, email);
		else if (response.ok) await recordSignInSuccess(deps.db, email);
	}
	return response;
}
