// @ts-check
// Plain JavaScript on purpose: the build copies this file next to adapter-node's handler
// (see svelte.config.js), so the static files sirv serves get exactly the headers the hook sets.

/** Browser features the app never uses; denying them limits what injected content could ask for. */
const PERMISSIONS_POLICY = [
	'accelerometer=()',
	'camera=()',
	'display-capture=()',
	'geolocation=()',
	'gyroscope=()',
	'magnetometer=()',
	'microphone=()',
	'payment=()',
	'usb=()'
].join(', ');

/** Two years: the value HSTS preload lists ask for. */
const HSTS = 'max-age=63072000; includeSubDomains';

/**
 * The headers every response carries, pages and static files alike. HSTS only when the public
 * origin is https: sent over plain http it would be ignored, and on a misconfigured
 * http-only host it would lock browsers out once a proxy starts answering on https.
 *
 * @param {{ origin?: string | undefined }} options the public ORIGIN the app is served at
 * @returns {[name: string, value: string][]}
 */
export function securityHeaders({ origin }) {
	/** @type {[string, string][]} */
	const headers = [
		['x-content-type-options', 'nosniff'],
		['x-frame-options', 'DENY'],
		['referrer-policy', 'strict-origin-when-cross-origin'],
		['permissions-policy', PERMISSIONS_POLICY],
		['cross-origin-opener-policy', 'same-origin']
	];
	if (isHttps(origin)) headers.push(['strict-transport-security', HSTS]);
	return headers;
}

/** @param {string | undefined} origin */
function isHttps(origin) {
	if (!origin) return false;
	try {
		return new URL(origin).protocol === 'https:';
	} catch {
		return false;
	}
}
