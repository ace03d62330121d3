import { isHttpError, isRedirect, type Handle } from '@sveltejs/kit';
import { isAuthApiPath } from '../auth/api-guard';
import { httpRequestDuration, httpRequests } from './registry';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The route as a label: its SvelteKit id (bounded), never the raw path (unbounded). */
function routeLabel(event: Parameters<Handle>[0]['event']): string {
	if (event.route.id) return event.route.id;
	// better-auth answers these in a hook; no route file matches them.
	return isAuthApiPath(event.url.pathname) ? '/api/auth/*' : 'unmatched';
}

/**
 * Counts and times every request by route, method and status, and writes its access line
 * (method, route id, status, duration; the request id comes with `event.locals.log`). Never the
 * query string or cookies: they may hold tokens. Runs right after `requestId`, so refusals of
 * later hooks are counted too.
 */
export const observeRequests: Handle = async ({ event, resolve }) => {
	const started = performance.now();
	let status = 500;
	try {
		const response = await resolve(event);
		status = response.status;
		return response;
	} catch (error) {
		// A later hook threw `error()` or `redirect()`: SvelteKit turns it into this status.
		if (isHttpError(error) || isRedirect(error)) status = error.status;
		throw error;
	} finally {
		const seconds = (performance.now() - started) / 1000;
		const route = routeLabel(event);
		const method = METHODS.has(event.request.method) ? event.request.method : 'OTHER';
		httpRequests.inc({ route, method, status: String(status) });
		httpRequestDuration.observe({ route, method }, seconds);
		event.locals.log.info(
			{ method, route, status, durationMs: Math.round(seconds * 10_000) / 10 },
			'request'
		);
	}
};
