import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { HttpClient } from '../helpers/http-client';

const EVERYWHERE = {
	'x-content-type-options': 'nosniff',
	'x-frame-options': 'DENY',
	'referrer-policy': 'strict-origin-when-cross-origin'
};

/** Asserts the headers every response must carry, whoever answered it (SvelteKit or sirv). */
function expectSecurityHeaders(response: Response, { hsts }: { hsts: boolean }) {
	for (const [name, value] of Object.entries(EVERYWHERE)) {
		expect(response.headers.get(name), `${name} on ${response.url}`).toBe(value);
	}
	const permissions = response.headers.get('permissions-policy') ?? '';
	for (const feature of ['camera=()', 'microphone=()', 'geolocation=()', 'payment=()']) {
		expect(permissions).toContain(feature);
	}
	const sts = response.headers.get('strict-transport-security');
	if (hsts) expect(sts).toBe('max-age=63072000; includeSubDomains');
	else expect(sts).toBeNull();
}

/** The CSP header as a map of directive -> sources. */
function csp(response: Response): Map<string, string[]> {
	const header = response.headers.get('content-security-policy');
	expect(header, `CSP on ${response.url}`).toBeTruthy();
	return new Map(
		header!
			.split(';')
			.map((part) => part.trim().split(/\s+/))
			.filter((words) => words[0])
			.map(([name, ...sources]) => [name, sources])
	);
}

/** One immutable script or stylesheet the page links to, served by sirv from build/client. */
function immutableAsset(html: string): string {
	const match = html.match(/\/_app\/immutable\/[\w./-]+\.(?:js|css)/);
	expect(match, 'the page links an immutable asset').toBeTruthy();
	return match![0];
}

describe('security headers on the built app (http ORIGIN)', () => {
	let app: AppServer;
	const get = (path: string, init?: RequestInit) =>
		fetch(`${app.url}${path}`, { redirect: 'manual', ...init });

	beforeAll(async () => {
		app = await startAppServer();
	});
	afterAll(async () => {
		await app?.stop();
	});

	it('a page carries them, with a CSP that needs hashes or nonces and no eval', async () => {
		const response = await get('/');
		expect(response.status).toBe(200);
		expectSecurityHeaders(response, { hsts: false });
		const policy = csp(response);
		const scripts = policy.get('script-src')!;
		expect(scripts).toContain("'self'");
		expect(scripts.some((s) => /^'(nonce|sha256)-[A-Za-z0-9+/=]+'$/.test(s))).toBe(true);
		const everything = [...policy.values()].flat();
		expect(everything).not.toContain("'unsafe-eval'");
		expect(scripts).not.toContain("'unsafe-inline'");
		expect(policy.get('default-src')).toEqual(["'self'"]);
		expect(policy.get('object-src')).toEqual(["'none'"]);
		expect(policy.get('frame-ancestors')).toEqual(["'none'"]);
		expect(policy.get('base-uri')).toEqual(["'self'"]);
		expect(policy.get('form-action')).toContain("'self'");
	});

	it("the CSP allows app.html's inline theme script by its hash", async () => {
		const response = await get('/login');
		const html = await response.text();
		const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)([^>]*)>([\s\S]*?)<\/script>/g)];
		const theme = inline.find(([, , body]) => body.includes("localStorage.getItem('theme')"));
		expect(theme, 'the theme script is inline in the page').toBeTruthy();
		const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(theme![2]));
		const hash = `'sha256-${Buffer.from(digest).toString('base64')}'`;
		expect(csp(response).get('script-src')).toContain(hash);
		// Every other inline script is Kit's own and carries the nonce the policy names.
		const nonces = csp(response)
			.get('script-src')!
			.filter((s) => s.startsWith("'nonce-"))
			.map((s) => s.slice(7, -1));
		for (const [, attributes, body] of inline) {
			if (body === theme![2]) continue;
			expect(nonces.some((nonce) => attributes.includes(`nonce="${nonce}"`))).toBe(true);
		}
	});

	it('__data.json, a JSON API, a 404 page and a redirect carry them', async () => {
		const data = await get('/login/__data.json');
		expect(data.status).toBe(200);
		expect(data.headers.get('content-type')).toContain('application/json');
		expectSecurityHeaders(data, { hsts: false });

		const health = await get('/api/health');
		expect(health.status).toBe(200);
		expectSecurityHeaders(health, { hsts: false });

		const unauthorized = await get('/api/credits');
		expect(unauthorized.status).toBe(401);
		expectSecurityHeaders(unauthorized, { hsts: false });

		const missing = await get('/no/such/page');
		expect(missing.status).toBe(404);
		expectSecurityHeaders(missing, { hsts: false });
		csp(missing);

		const redirect = await get('/dashboard');
		expect(redirect.status).toBe(303);
		expectSecurityHeaders(redirect, { hsts: false });
	});

	it("a form action's redirect and a signed-in page carry them", async () => {
		const client = new HttpClient(app.url);
		const signedUp = await client.postForm('/signup', {
			name: 'Headers',
			email: 'headers@example.com',
			password: 'correct horse'
		});
		expect(signedUp.status).toBe(303);
		expectSecurityHeaders(signedUp, { hsts: false });

		const dashboard = await client.get('/dashboard');
		expect(dashboard.status).toBe(200);
		expectSecurityHeaders(dashboard, { hsts: false });
		csp(dashboard);
	});

	it('static files served before the hooks carry them: an immutable asset and static/', async () => {
		const html = await (await get('/')).text();
		const asset = await get(immutableAsset(html));
		expect(asset.status).toBe(200);
		expect(asset.headers.get('cache-control')).toContain('immutable');
		expectSecurityHeaders(asset, { hsts: false });
		// A request id belongs to the app's own responses; sirv's never had one.
		expect(asset.headers.get('x-request-id')).toBeNull();

		const favicon = await get('/favicon.svg');
		expect(favicon.status).toBe(200);
		expect(favicon.headers.get('content-type')).toContain('image/svg+xml');
		expectSecurityHeaders(favicon, { hsts: false });

		const precompressed = await get(immutableAsset(html), {
			headers: { 'accept-encoding': 'br, gzip' }
		});
		expect(precompressed.status).toBe(200);
		expectSecurityHeaders(precompressed, { hsts: false });

		const notModified = await get('/favicon.svg', {
			headers: { 'if-none-match': favicon.headers.get('etag') ?? '' }
		});
		expect(notModified.status).toBe(304);
		expectSecurityHeaders(notModified, { hsts: false });
	});

	it('echoes a well-formed X-Request-Id and replaces any other', async () => {
		const id = (value: string) =>
			get('/api/health', { headers: { 'x-request-id': value } }).then((r) =>
				r.headers.get('x-request-id')
			);
		const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/;

		expect(await id('lb-7f3a.2_b')).toBe('lb-7f3a.2_b');
		expect(await id('x'.repeat(64))).toBe('x'.repeat(64));
		for (const bad of ['x'.repeat(65), 'a b', '<script>alert(1)</script>', 'id;drop', 'ü']) {
			const answered = await id(bad);
			expect(answered).toMatch(uuid);
		}
		const none = await get('/api/health');
		expect(none.headers.get('x-request-id')).toMatch(uuid);
	});
});

describe('security headers behind an https ORIGIN', () => {
	// The app believes it is https://chat.example (as behind a TLS proxy) but is asked over http.
	let app: AppServer;
	const get = (path: string) => fetch(`${app.url}${path}`, { redirect: 'manual' });

	beforeAll(async () => {
		app = await startAppServer({ ORIGIN: 'https://chat.example' });
	});
	afterAll(async () => {
		await app?.stop();
	});

	it('adds HSTS to pages, JSON and static files', async () => {
		const page = await get('/');
		expect(page.status).toBe(200);
		expectSecurityHeaders(page, { hsts: true });
		expectSecurityHeaders(await get('/api/health'), { hsts: true });
		expectSecurityHeaders(await get('/favicon.svg'), { hsts: true });
		expectSecurityHeaders(await get(immutableAsset(await page.text())), { hsts: true });
		expectSecurityHeaders(await get('/no/such/page'), { hsts: true });
	});
});
