import type { Handle } from '@sveltejs/kit';
import { env } from '$env/dynamic/private';
import { log } from '../log';
import { securityHeaders } from './security-headers.js';

/** What a proxy's or client's request id may look like; anything else could forge log lines. */
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * The id this request is logged and answered under: the caller's, when it is a plain token (a
 * proxy's id keeps one request traceable across hops), otherwise a fresh one.
 */
export function acceptedRequestId(header: string | null): string {
	return header !== null && REQUEST_ID.test(header) ? header : crypto.randomUUID();
}

/**
 * Gives every request an id (and a logger whose lines carry it) and every response the
 * security headers. The production server sets
 * the same headers on static files too, which never reach this hook (svelte.config.js).
 */
export const requestId: Handle = async ({ event, resolve }) => {
	event.locals.requestId = acceptedRequestId(event.request.headers.get('x-request-id'));
	event.locals.log = log.child({ requestId: event.locals.requestId });
	const response = await resolve(event);
	response.headers.set('x-request-id', event.locals.requestId);
	for (const [name, value] of securityHeaders({ origin: env.ORIGIN })) {
		response.headers.set(name, value);
	}
	return response;
};
