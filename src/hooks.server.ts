import {
	error,
	type Handle,
	type RequestEvent,
	type HandleServerError,
	type ServerInit
} from '@sveltejs/kit';
import { sequence } from '@sveltejs/kit/hooks';
import { svelteKitHandler } from 'better-auth/svelte-kit';
import { building } from '$app/environment';
import { guardAuthApi, isAuthApiPath } from '$lib/server/auth/api-guard';
import { areaOf, isAdmin, isApiPath, loginPath, readsCachedSession } from '$lib/server/auth/access';
import { clientAddress } from '$lib/server/auth/client-address';
import { rememberedSession } from '$lib/server/auth/session-memo';
import { StartupError } from '$lib/server/config';
import { DatabaseInUseError } from '$lib/server/db/client';
import { bodyLimit } from '$lib/server/http/body-limit';
import { crossSite } from '$lib/server/http/cross-site';
import { DATABASE_UNAVAILABLE_MESSAGE } from '$lib/server/db/availability';
import {
	databaseUnavailableResponse,
	errorResponse,
	hadDatabaseOutage,
	noteDatabaseOutage
} from '$lib/server/http/errors';
import { requestId } from '$lib/server/http/response-headers';
import { log } from '$lib/server/log';
import { observeRequests } from '$lib/server/metrics';
import { runtime } from '$lib/server/runtime';

export const init: ServerInit = async () => {
	try {
		await runtime();
	} catch (error) {
		if (!(error instanceof StartupError || error instanceof DatabaseInUseError)) throw error;
		// One plain line on stderr, like src/cluster.js's own refusals: what an operator reads
		// first when the server will not start, not a log record.
		console.error(`credit-chat cannot start: ${error.message}`);
		process.exit(1);
	}
};

/** `/api/auth/*`: only the endpoints we use, validated and throttled like the forms. */
const authApi: Handle = async ({ event, resolve }) => {
	if (!isAuthApiPath(event.url.pathname)) return resolve(event);
	const { database, config } = await runtime();
	return guardAuthApi(event, resolve, { db: database.db, limits: config.authLimits });
};

const session: Handle = async ({ event, resolve }) => {
	const { auth, authSecret, config } = await runtime();
	const read = (cached: boolean) =>
		auth.api
			.getSession({ headers: event.request.headers, query: { disableCookieCache: !cached } })
			.catch((e) => {
				// better-auth wraps the driver's error in a 500 APIError; an unreachable database is
				// not a signed-out visitor (guard answers 503 for private areas, public ones go on).
				if (noteDatabaseOutage(event.locals, e)) return null;
				throw e;
			});
	const cached = readsCachedSession(event.url.pathname);
	let data = cached
		? await rememberedSession(event.request.headers, authSecret, () => read(true))
		: await read(false);
	// A cached "not verified yet" may be stale (the link was opened on another device): asked
	// again of the database before the chat API refuses on it.
	if (cached && data && !data.user.emailVerified && config.emailVerification !== 'off') {
		data = await read(false);
	}
	event.locals.user = data?.user ?? null;
	event.locals.session = data?.session ?? null;
	return svelteKitHandler({ event, resolve, auth, building });
};

/**
 * Authorization by path, for pages, `__data.json`, form actions and APIs alike: signed-out
 * visitors never reach the dashboard, the admin area or a private API, and only admins reach
 * `/admin/**` and `/api/admin/**`. Loads and actions check again (lib/server/auth/access.ts);
 * a new route is covered by its path and walked by tests/security/route-walker.test.ts.
 */
function isPageVisit(event: RequestEvent): boolean {
	return (
		(event.request.method === 'GET' || event.request.method === 'HEAD') &&
		!event.isDataRequest &&
		!event.isRemoteRequest &&
		event.route.id !== null
	);
}

const guard: Handle = async ({ event, resolve }) => {
	const area = areaOf(event.url.pathname, event.route.id);
	if (area === 'public') return resolve(event);
	const api = isApiPath(event.url.pathname);
	if (!event.locals.user) {
		if (hadDatabaseOutage(event.locals)) {
			if (api) return databaseUnavailableResponse();
			error(503, DATABASE_UNAVAILABLE_MESSAGE);
		}
		if (api) return errorResponse(401, 'unauthorized', 'Sign in to use this endpoint.');
		return new Response(null, { status: 303, headers: { location: loginPath(event.url) } });
	}
	if (area === 'admin' && !isAdmin(event.locals.user)) {
		if (api) return errorResponse(403, 'forbidden', 'This is for administrators.');
		// A page visit (GET, not __data.json) goes on so that the admin layout's requireAdmin
		// answers 403 through +error.svelte, inside the app's header: an error thrown here would
		// get the bare src/error.html. Every admin load checks the role itself, and a refused
		// layout means no page data is rendered. Data requests and actions stop here.
		if (isPageVisit(event)) return resolve(event);
		error(403, 'This area is for administrators.');
	}
	return resolve(event);
};

/**
 * An unreachable database answers 503 (retry later), never 500: errors thrown by the hooks below
 * and unexpected errors of loads and endpoints that handleError traced to an outage.
 */
const outageStatus: Handle = async ({ event, resolve }) => {
	let response: Response;
	try {
		response = await resolve(event);
	} catch (e) {
		if (!noteDatabaseOutage(event.locals, e)) throw e;
		(event.locals.log ?? log).error(
			{ err: e, method: event.request.method, route: event.route.id },
			`[${event.locals.requestId}] ${event.request.method} ${event.url.pathname}`
		);
		if (isApiPath(event.url.pathname)) return databaseUnavailableResponse();
		error(503, DATABASE_UNAVAILABLE_MESSAGE);
	}
	if (response.status !== 500 || !hadDatabaseOutage(event.locals)) return response;
	if (isApiPath(event.url.pathname)) return databaseUnavailableResponse();
	const headers = new Headers(response.headers);
	headers.set('retry-after', '5');
	return new Response(response.body, { status: 503, headers });
};

export const handle = sequence(
	requestId,
	observeRequests,
	outageStatus,
	crossSite,
	bodyLimit,
	clientAddress,
	authApi,
	session,
	guard
);

export const handleError: HandleServerError = ({ error, event, status, message }) => {
	if (status === 404) return { message: 'This page does not exist.' };
	// The details stay in the server log; the browser gets a reference to quote, never a stack trace.
	(event.locals.log ?? log).error(
		{ err: error, method: event.request.method, route: event.route.id, status },
		`[${event.locals.requestId}] ${event.request.method} ${event.url.pathname}`
	);
	// An unreachable database says so (outageStatus above turns the 500 into a 503).
	if (noteDatabaseOutage(event.locals, error)) {
		return { message: DATABASE_UNAVAILABLE_MESSAGE, id: event.locals.requestId };
	}
	return {
		message: status < 500 ? message : 'Something went wrong on our side.',
		id: event.locals.requestId
	};
};
