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
import { areaOf, isAdmin, isApiPath, loginPath } from '$lib/server/auth/access';
import { clientAddress } from '$lib/server/auth/client-address';
import { StartupError } from '$lib/server/config';
import { DatabaseInUseError } from '$lib/server/db/client';
import { bodyLimit } from '$lib/server/http/body-limit';
import { crossSite } from '$lib/server/http/cross-site';
import { errorResponse } from '$lib/server/http/errors';
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
	const { auth } = await runtime();
	const data = await auth.api.getSession({ headers: event.request.headers });
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

export const handle = sequence(
	requestId,
	observeRequests,
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
	return {
		message: status < 500 ? message : 'Something went wrong on our side.',
		id: event.locals.requestId
	};
};
