import { error, redirect } from '@sveltejs/kit';

/**
 * Who may reach a request. SvelteKit runs a page's `load` in parallel with its layouts' (and a
 * client can skip layouts with `?x-sveltekit-invalidated=…`), so a layout protects nothing by
 * itself: the area is decided here for every request, in hooks.server.ts, and again in each
 * load and action that returns or changes protected data.
 *
 * A new route inherits its area from its path: `/admin/**` and `/api/admin/**` are for admins,
 * `/dashboard/**` and every other `/api/**` for signed-in users. A public API must be listed in
 * PUBLIC_APIS, on purpose.
 */
export type Area = 'public' | 'user' | 'admin';

const PUBLIC_APIS = ['/api/health', '/api/auth/', '/api/webhooks/', '/api/credits/catalog'];

/**
 * Outside every session area on purpose: guarded by a token of their own, checked in the route
 * (`/metrics`: METRICS_TOKEN as a bearer token, 404 when unset). A session must neither open
 * them nor send a scraper to the sign-in page: they stay outside `/api`, `/dashboard` and
 * `/admin`, so areaOf() calls them public (access.spec.ts checks it).
 */
export const TOKEN_GUARDED_PATHS = ['/metrics'];

/**
 * The area of a request, by its path and by the route it matched: either one being protected is
 * enough, so an encoded or oddly slashed path cannot reach a route its plain path would guard.
 */
export function areaOf(pathname: string, routeId: string | null): Area {
	const paths = [normalizePath(pathname), routeId ? routeIdPath(routeId) : null];
	if (paths.some((path) => path !== null && isAdminPath(path))) return 'admin';
	if (paths.some((path) => path !== null && isUserPath(path))) return 'user';
	return 'public';
}

export function isApiPath(pathname: string): boolean {
	return within(normalizePath(pathname), '/api');
}

/**
 * Where a session may be read from better-auth's signed cookie cache instead of the database
 * (AUTH_SESSION_CACHE_SECONDS): the chat API only, whose answers depend on no role, so a sign-out
 * elsewhere, a revoked session or a ban reaches it within the cache's max age. Everything else,
 * the admin area above all, reads the session row on every request.
 */
export function readsCachedSession(pathname: string): boolean {
	return within(normalizePath(pathname), '/api/chat');
}

export function isAdmin(user: { role?: string | null } | null | undefined): boolean {
	return user?.role === 'admin';
}

/** For admin loads and actions: the admin, or a redirect to sign in, or a 403. */
export function requireAdmin(locals: App.Locals, url: URL): NonNullable<App.Locals['user']> {
	const user = locals.user;
	if (!user) redirect(303, loginPath(url));
	if (!isAdmin(user)) error(403, 'This area is for administrators.');
	return user;
}

/** The sign-in page that comes back here afterwards. */
export function loginPath(url: URL): string {
	return `/login?redirectTo=${encodeURIComponent(url.pathname + url.search)}`;
}

function isAdminPath(path: string): boolean {
	return within(path, '/admin') || within(path, '/api/admin');
}

function isUserPath(path: string): boolean {
	if (within(path, '/dashboard')) return true;
	return within(path, '/api') && !PUBLIC_APIS.some((prefix) => within(path, prefix));
}

/** `path` is `prefix` itself or below it (`/admin`, `/admin/x`, not `/administrator`). */
function within(path: string, prefix: string): boolean {
	const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
	return path === base || path.startsWith(`${base}/`);
}

/** Decoded, lower-cased, with repeated slashes collapsed: how a lenient router might read it. */
function normalizePath(pathname: string): string {
	let decoded = pathname;
	try {
		decoded = decodeURIComponent(pathname);
	} catch {
		// A malformed escape matches no route; judge the raw path.
	}
	return decoded.replace(/\/{2,}/g, '/').toLowerCase();
}

/** `/(admin)/admin/webhooks` → `/admin/webhooks`: route groups are not part of the URL. */
function routeIdPath(routeId: string): string {
	return routeId.replace(/\/\([^)]*\)/g, '') || '/';
}

/** Whether this user must confirm their email before chatting (EMAIL_VERIFICATION=required). */
export function mustVerifyEmail(
	user: { emailVerified: boolean },
	mode: 'required' | 'optional' | 'off'
): boolean {
	return mode === 'required' && !user.emailVerified;
}
