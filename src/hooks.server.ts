import type { Handle, HandleServerError, ServerInit } from '@sveltejs/kit';
import { sequence } from '@sveltejs/kit/hooks';
import { svelteKitHandler } from 'better-auth/svelte-kit';
import { building } from '$app/environment';
import { StartupError } from '$lib/server/config';
import { bodyLimit } from '$lib/server/http/body-limit';
import { errorResponse } from '$lib/server/http/errors';
import { runtime } from '$lib/server/runtime';

export const init: ServerInit = async () => {
	try {
		await runtime();
	} catch (error) {
		if (!(error instanceof StartupError)) throw error;
		console.error(`credit-chat cannot start: ${error.message}`);
		process.exit(1);
	}
};

const requestId: Handle = async ({ event, resolve }) => {
	event.locals.requestId = event.request.headers.get('x-request-id') ?? crypto.randomUUID();
	const response = await resolve(event);
	response.headers.set('x-request-id', event.locals.requestId);
	response.headers.set('x-content-type-options', 'nosniff');
	response.headers.set('referrer-policy', 'strict-origin-when-cross-origin');
	response.headers.set('x-frame-options', 'DENY');
	return response;
};

const session: Handle = async ({ event, resolve }) => {
	const { auth } = await runtime();
	const data = await auth.api.getSession({ headers: event.request.headers });
	event.locals.user = data?.user ?? null;
	event.locals.session = data?.session ?? null;
	return svelteKitHandler({ event, resolve, auth, building });
};

/** Signed-out visitors never reach the dashboard or the JSON API, whatever the route forgets. */
const guard: Handle = async ({ event, resolve }) => {
	if (event.locals.user) return resolve(event);
	const { pathname, search } = event.url;
	if (pathname === '/dashboard' || pathname.startsWith('/dashboard/')) {
		const redirectTo = encodeURIComponent(pathname + search);
		return new Response(null, {
			status: 303,
			headers: { location: `/login?redirectTo=${redirectTo}` }
		});
	}
	if (pathname.startsWith('/api/') && !isPublicApi(pathname)) {
		return errorResponse(401, 'unauthorized', 'Sign in to use this endpoint.');
	}
	return resolve(event);
};

function isPublicApi(pathname: string): boolean {
	return (
		pathname === '/api/health' ||
		pathname.startsWith('/api/auth/') ||
		pathname.startsWith('/api/webhooks/')
	);
}

export const handle = sequence(requestId, bodyLimit, session, guard);

export const handleError: HandleServerError = ({ error, event, status, message }) => {
	if (status === 404) return { message: 'This page does not exist.' };
	// The details stay in the server log; the browser gets a reference to quote, never a stack trace.
	console.error(`[${event.locals.requestId}] ${event.request.method} ${event.url.pathname}`, error);
	return {
		message: status < 500 ? message : 'Something went wrong on our side.',
		id: event.locals.requestId
	};
};
