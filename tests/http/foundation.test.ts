import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnApp, startAppServer, type AppServer } from '../helpers/app-server';
import { HttpClient } from '../helpers/http-client';

const run = promisify(execFile);
const ADMIN_EMAIL = 'boss@example.com';

describe('the built app on PostgreSQL', () => {
	let app: AppServer;
	let sql: postgres.Sql;

	beforeAll(async () => {
		app = await startAppServer({ ADMIN_EMAILS: `someone@else.org, ${ADMIN_EMAIL.toUpperCase()}` });
		sql = postgres(app.databaseUrl, { max: 1 });
	});
	afterAll(async () => {
		await sql?.end();
		await app?.stop();
	});

	const userCount = async () => Number((await sql`select count(*) from "user"`)[0].count);

	async function signUp(email: string, password = 'correct horse') {
		const client = new HttpClient(app.url);
		const response = await client.postForm('/signup', { name: 'Test', email, password });
		return { client, response };
	}

	it('reports health and the version', async () => {
		const response = await fetch(`${app.url}/api/health`);
		expect(response.status).toBe(200);
		expect(await response.json()).toEqual({ status: 'ok', version: '0.1.0' });
	});

	it('sends signed-out visitors of any dashboard page to the login page', async () => {
		for (const path of ['/dashboard', '/dashboard/chat', '/dashboard/credits?tab=history']) {
			const response = await new HttpClient(app.url).get(path);
			expect(response.status).toBe(303);
			expect(response.headers.get('location')).toBe(
				`/login?redirectTo=${encodeURIComponent(path)}`
			);
		}
	});

	it('answers private API calls from signed-out clients with a JSON 401', async () => {
		const response = await new HttpClient(app.url).get('/api/credits');
		expect(response.status).toBe(401);
		expect(await response.json()).toEqual({
			error: { code: 'unauthorized', message: expect.any(String) }
		});
	});

	it('signs up, shows the dashboard, signs out and signs back in', async () => {
		const { client, response } = await signUp('ada@example.com');
		expect(response.status).toBe(303);
		expect(response.headers.get('location')).toBe('/dashboard');
		expect(client.hasSession()).toBe(true);

		const dashboard = await client.get('/dashboard');
		expect(dashboard.status).toBe(200);
		expect(await dashboard.text()).toContain('ada@example.com');

		const signOut = await client.postForm('/logout', {});
		expect(signOut.status).toBe(303);
		expect(client.hasSession()).toBe(false);
		expect((await client.get('/dashboard')).status).toBe(303);

		const signIn = await client.postForm('/login?redirectTo=%2Fdashboard%2Fcredits', {
			email: 'ADA@example.com',
			password: 'correct horse'
		});
		expect(signIn.status).toBe(303);
		expect(signIn.headers.get('location')).toBe('/dashboard/credits');
		expect((await client.get('/dashboard/credits')).status).toBe(200);
	});

	it('never redirects off-site after sign-in', async () => {
		await signUp('eve@example.com');
		const client = new HttpClient(app.url);
		const response = await client.postForm('/login?redirectTo=%2F%2Fevil.example', {
			email: 'eve@example.com',
			password: 'correct horse'
		});
		expect(response.headers.get('location')).toBe('/dashboard');
	});

	it.each([
		[
			'a malformed email',
			{ email: 'not-an-email', password: 'long enough' },
			'Enter a valid email'
		],
		['a short password', { email: 'short@example.com', password: 'abc' }, 'at least 8 characters'],
		['a missing password', { email: 'nopass@example.com', password: '' }, 'at least 8 characters']
	])(
		'refuses a sign-up with %s inline, keeps the email and creates nothing',
		async (_, fields, message) => {
			const before = await userCount();
			const response = await new HttpClient(app.url).postForm('/signup', { name: 'X', ...fields });
			expect(response.status).toBe(400);
			const html = await response.text();
			expect(html).toContain(message);
			expect(html).toContain(`value="${fields.email}"`);
			expect(await userCount()).toBe(before);
		}
	);

	it('refuses a sign-up with an existing email and creates nothing', async () => {
		await signUp('taken@example.com');
		const before = await userCount();
		const { client, response } = await signUp('Taken@Example.com', 'another password');
		expect(response.status).toBe(400);
		expect(await response.text()).toContain('already exists');
		expect(client.hasSession()).toBe(false);
		expect(await userCount()).toBe(before);
	});

	it('refuses a wrong password inline and keeps the email', async () => {
		await signUp('grace@example.com');
		const client = new HttpClient(app.url);
		const response = await client.postForm('/login', {
			email: 'grace@example.com',
			password: 'wrong password'
		});
		expect(response.status).toBe(400);
		const html = await response.text();
		expect(html).toContain('do not match an account');
		expect(html).toContain('value="grace@example.com"');
		expect(client.hasSession()).toBe(false);
	});

	it('keeps /admin for admins: 403 for users and for an unverified ADMIN_EMAILS sign-up, open after admin:grant', async () => {
		const { client: user } = await signUp('user@example.com');
		const forbidden = await user.request('/admin', { headers: { accept: 'text/html' } });
		expect(forbidden.status).toBe(403);
		expect(await forbidden.text()).toContain('This area is for administrators.');
		const data = await user.get('/admin/__data.json?x-sveltekit-invalidated=001');
		expect(data.status).toBe(403);

		// Listed in ADMIN_EMAILS, but nobody proved the address: not an admin (production).
		const { client: boss } = await signUp(ADMIN_EMAIL);
		expect((await boss.get('/admin')).status).toBe(403);
		expect(await (await boss.get('/dashboard')).text()).not.toContain('href="/admin"');
		expect(app.output()).toContain('npm run admin:grant');

		const { stdout } = await run(
			process.execPath,
			['--import', 'tsx', 'src/cli/admin-grant.ts', 'user@example.com'],
			{
				env: { ...process.env, DATABASE_URL: app.databaseUrl }
			}
		);
		expect(stdout).toContain('user@example.com is now an admin.');
		expect((await user.get('/admin')).status).toBe(200);
		expect(await (await user.get('/dashboard')).text()).toContain('href="/admin"');
	});

	it('admin:grant fails clearly for an unknown email', async () => {
		const result = await run(
			process.execPath,
			['--import', 'tsx', 'src/cli/admin-grant.ts', 'nobody@example.com'],
			{
				env: { ...process.env, DATABASE_URL: app.databaseUrl }
			}
		).catch((error) => error);
		expect(result.code).toBe(1);
		expect(result.stderr).toContain('No user has the email nobody@example.com');
	});

	it('renders a proper 404 page for unknown routes, without internals', async () => {
		const response = await fetch(`${app.url}/no/such/page`);
		expect(response.status).toBe(404);
		const html = await response.text();
		expect(html).toContain('Page not found');
		expect(html).not.toMatch(/at .*\.js:\d+/);
	});

	it('sets security headers and a request id on every response', async () => {
		// tests/security/headers.test.ts covers every kind of response, static files included.
		const response = await fetch(`${app.url}/`);
		expect(response.headers.get('x-content-type-options')).toBe('nosniff');
		expect(response.headers.get('x-frame-options')).toBe('DENY');
		expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
		expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
	});
});

describe('health when the database is gone', () => {
	it('answers 503 with a fixed text and logs the cause', async () => {
		const app = await startAppServer();
		const admin = postgres(app.databaseUrl.replace(/\/[^/]+$/, '/postgres'), { max: 1 });
		try {
			const name = new URL(app.databaseUrl).pathname.slice(1);
			await admin.unsafe(`alter database ${name} allow_connections false`);
			await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name}`;
			const response = await fetch(`${app.url}/api/health`, {
				headers: { 'x-request-id': 'probe-1' }
			});
			expect(response.status).toBe(503);
			// The public answer names no host, user, database or driver message.
			expect(await response.json()).toEqual({ status: 'unavailable', version: '0.1.0' });
			// The operator finds the cause in the log (a JSON line), under the request id.
			const logged = () =>
				app
					.output()
					.split('\n')
					.some(
						(line) =>
							line.includes('"requestId":"probe-1"') &&
							line.includes('health check: database unavailable') &&
							/"err":\{"type":"\w+","message":"[^"]+/.test(line)
					);
			await expect.poll(logged).toBe(true);
		} finally {
			await admin.end();
			await app.stop();
		}
	});
});

describe('start-up checks in production', () => {
	async function startWith(env: Record<string, string>) {
		const child = spawnApp({
			PORT: '0',
			DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
			DEMO_MODEL: 'on',
			...env
		});
		let stderr = '';
		child.stderr?.on('data', (chunk) => (stderr += chunk));
		const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
		return { code, lines: stderr.trim().split('\n') };
	}

	const startWithSecret = (secret: string | undefined) =>
		startWith(secret === undefined ? {} : { BETTER_AUTH_SECRET: secret });

	it('refuses to start without BETTER_AUTH_SECRET, in one line', async () => {
		const { code, lines } = await startWithSecret(undefined);
		expect(code).toBe(1);
		expect(lines).toEqual([
			expect.stringMatching(/^credit-chat cannot start: BETTER_AUTH_SECRET is not set/)
		]);
	});

	it('refuses to start with a short BETTER_AUTH_SECRET, in one line', async () => {
		const { code, lines } = await startWithSecret('too-short');
		expect(code).toBe(1);
		expect(lines).toEqual([expect.stringMatching(/only 9 characters/)]);
	});

	it('refuses to serve the demo model without DEMO_MODEL=on, in one line', async () => {
		const secret = { BETTER_AUTH_SECRET: 'x'.repeat(40) };
		for (const demo of [{ DEMO_MODEL: '' }, { DEMO_MODEL: 'off' }]) {
			const { code, lines } = await startWith({ ...secret, ...demo });
			expect(code).toBe(1);
			expect(lines).toEqual([
				expect.stringMatching(
					/^credit-chat cannot start: no chat model is configured.*DEMO_MODEL=on/
				)
			]);
		}
	});
});
