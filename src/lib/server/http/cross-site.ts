import type { Handle } from '@sveltejs/kit';
import { errorResponse } from './errors';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * True for a request that changes something and that a browser says another site started
 * (`Sec-Fetch-Site: cross-site`). SvelteKit checks the Origin of form posts only; the JSON APIs
 * (chat, Stop, dismissing a notice) rely on better-auth's SameSite=Lax cookies, and this is the
 * second lock. Servers (Polar's webhooks, scripts) send no such header and are not affected.
 */
export function isCrossSiteWrite(request: Request): boolean {
	if (SAFE_METHODS.has(request.method)) return false;
	return request.headers.get('sec-fetch-site') === 'cross-site';
}

export const crossSite: Handle = ({ event, resolve }) => {
	if (!isCrossSiteWrite(event.request)) return resolve(event);
	return errorResponse(403, 'cross_site', 'Requests from other sites cannot change anything here.');
};
