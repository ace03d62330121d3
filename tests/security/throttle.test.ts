import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchApp, startAppServer, type AppServer, type LaunchedApp } from '../helpers/app-server';
import { HttpClient } from '../helpers/http-client';

/**
 * Password guessing against the built app, with several real client addresses: each client
 * binds its sockets to its own 127.0.0.x, which is what `event.getClientAddress()` sees. Two
 * instances run on one database to show that they share one count.
 */
const PER_MINUTE = 5;
const FREE_FAILURES = 3;
const PASSWORD = 'correct horse';

describe('sign-in and sign-up throttling', () => {
	let app: AppServer;
	let second: LaunchedApp;
	let sql: postgres.Sql;
	let nextAddress = 10;

	beforeAll(async () => {
		const limits = {
			AUTH_RATE_PER_MINUTE: String(PER_MINUTE),
			AUTH_FAILURES_BEFORE_BACKOFF: String(FREE_FAILURES)
		};
		app = await startAppServer(limits);
		second = await launchApp({ DATABASE_URL: app.databaseUrl, ...limits });
		sql = postgres(app.databaseUrl, { max: 1 });
	});
	afterAll(async () => {
		await sql?.end();
		await second?.stop();
		await app?.stop();
	});

	/** A client on its own loopback address, talking to the first instance unless told. */
	const client = (baseUrl = app.url) =>
		new HttpClient(baseUrl, { localAddress: `127.0.0.${nextAddress++}` });

	/** An account created straight in the database's rate-limit-free way: a fresh address. */
	async function account(name: string): Promise<string> {
		const email = `${name}-${nextAddress}@example.com`;
		const response = await client().postForm('/signup', { name, email, password: PASSWORD });
		expect(response.status).toBe(303);
		return email;
	}

	const signIn = (who: HttpClient, email: string, password: string, headers = {}) =>
		who.request('/login', {
			method: 'POST',
			headers: {
				'content-type': 'application/x-www-form-urlencoded',
				accept: 'text/html',
				...headers
			},
			body: new URLSearchParams({ email, password }).toString()
		});

	const apiSignIn = (who: HttpClient, email: string, password: string) =>
		who.request('/api/auth/sign-in/email', {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ email, password })
		});

	it('refuses one address after the limit with 429, Retry-After and the wait inline; a bystander signs in', async () => {
		const attacker = client();
		const statuses: number[] = [];
		for (let i = 0; i < PER_MINUTE + 3; i++) {
			// A different account each time: only the address limit can stop this.
			statuses.push((await signIn(attacker, `guess-${i}@example.com`, 'wrong password')).status);
		}
		expect(statuses.slice(0, PER_MINUTE)).toEqual(Array(PER_MINUTE).fill(400));
		expect(statuses.slice(PER_MINUTE)).toEqual([429, 429, 429]);

		const refused = await signIn(attacker, 'guess-x@example.com', 'wrong password');
		expect(refused.status).toBe(429);
		const retryAfter = Number(refused.headers.get('retry-after'));
		expect(retryAfter).toBeGreaterThan(0);
		expect(retryAfter).toBeLessThanOrEqual(60);
		expect(await refused.text()).toMatch(
			/Too many attempts\. Please wait \d+ seconds? and try again\./
		);

		const email = await account('bystander');
		const bystander = client();
		const response = await signIn(bystander, email, PASSWORD);
		expect(response.status).toBe(303);
		expect(bystander.hasSession()).toBe(true);
	});

	it('ignores a forged X-Forwarded-For: a fresh value per request is still the same client', async () => {
		const attacker = client();
		const statuses: number[] = [];
		for (let i = 0; i < PER_MINUTE + 2; i++) {
			const forged = { 'x-forwarded-for': `198.51.100.${i}` };
			statuses.push((await signIn(attacker, `forged-${i}@example.com`, 'nope', forged)).status);
		}
		expect(statuses.slice(PER_MINUTE)).toEqual([429, 429]);
	});

	it('pauses an account after repeated failures from many addresses, doubling; other accounts are unaffected', async () => {
		const victim = await account('victim');
		const other = await account('other');
		for (let i = 0; i < FREE_FAILURES; i++) {
			expect((await signIn(client(), victim, `wrong-${i}`)).status).toBe(400);
		}
		// Paused now, even for the right password from a brand-new address.
		const paused = await signIn(client(), victim, PASSWORD);
		expect(paused.status).toBe(429);
		const firstPause = Number(paused.headers.get('retry-after'));
		expect(firstPause).toBeGreaterThan(20);
		expect(firstPause).toBeLessThanOrEqual(30);

		// A further failure (once the pause is over) doubles it: simulated by ending the pause.
		await sql`update rate_limit set blocked_until = now() where key like 'sign-in-failures:%' and blocked_until is not null and hits = ${FREE_FAILURES}`;
		expect((await signIn(client(), victim, 'wrong-again')).status).toBe(400);
		const doubled = Number((await signIn(client(), victim, PASSWORD)).headers.get('retry-after'));
		expect(doubled).toBeGreaterThan(50);
		expect(doubled).toBeLessThanOrEqual(60);

		const response = await signIn(client(), other, PASSWORD);
		expect(response.status).toBe(303);
	});

	it('counts the JSON API and the form in the same buckets, with a JSON 429', async () => {
		const attacker = client();
		for (let i = 0; i < 3; i++) await signIn(attacker, `mix-${i}@example.com`, 'nope');
		const api: number[] = [];
		for (let i = 0; i < 4; i++) {
			api.push((await apiSignIn(attacker, `mix-api-${i}@example.com`, 'nope')).status);
		}
		expect(
			api,
			JSON.stringify(await (await apiSignIn(attacker, 'debug@example.com', 'nope')).json())
		).toEqual([401, 401, 429, 429]);
		const refused = await apiSignIn(attacker, 'mix-last@example.com', 'nope');
		expect(refused.status).toBe(429);
		expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
		const body = await refused.json();
		expect(body.error.code).toBe('rate_limited');
		expect(body.error.message).toMatch(/Please wait \d+ seconds?/);
	});

	it('shares the limit between two instances on one database', async () => {
		const address = `127.0.0.${nextAddress++}`;
		const onFirst = new HttpClient(app.url, { localAddress: address });
		const onSecond = new HttpClient(second.url, { localAddress: address });
		const statuses: number[] = [];
		for (let i = 0; i < PER_MINUTE + 2; i++) {
			const target = i % 2 === 0 ? onFirst : onSecond;
			statuses.push((await signIn(target, `shared-${i}@example.com`, 'nope')).status);
		}
		// Each instance alone would allow PER_MINUTE; together they still allow PER_MINUTE.
		expect(statuses.filter((s) => s === 400)).toHaveLength(PER_MINUTE);
		expect(statuses.slice(PER_MINUTE)).toEqual([429, 429]);
	});

	it('limits sign-ups per address, and a refused sign-up creates no account', async () => {
		const address = `127.0.0.${nextAddress++}`;
		const batch = `farm-${address}`;
		const statuses: number[] = [];
		for (let i = 0; i < PER_MINUTE + 1; i++) {
			// A fresh cookie jar each time, as a farm of throwaway accounts would use.
			const farmer = new HttpClient(app.url, { localAddress: address });
			const email = `${batch}-${i}@example.com`;
			statuses.push(
				(await farmer.postForm('/signup', { name: 'F', email, password: PASSWORD })).status
			);
		}
		expect(statuses).toEqual([...Array(PER_MINUTE).fill(303), 429]);
		const [{ count }] =
			await sql`select count(*)::int as count from "user" where email like ${`${batch}-%`}`;
		expect(count).toBe(PER_MINUTE);
	});

	it('validates /api/auth like the forms and serves only the endpoints the app uses', async () => {
		const who = client();
		const post = (path: string, body: unknown) =>
			who.request(path, {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify(body)
			});
		const longName = await post('/api/auth/sign-up/email', {
			name: 'x'.repeat(101),
			email: 'long@example.com',
			password: PASSWORD
		});
		expect(longName.status).toBe(400);
		expect((await longName.json()).error.field).toBe('name');
		const badEmail = await post('/api/auth/sign-up/email', {
			name: 'x',
			email: 'not-an-email',
			password: PASSWORD
		});
		expect(badEmail.status).toBe(400);
		expect((await badEmail.json()).error.field).toBe('email');
		const huge = await post('/api/auth/sign-in/email', {
			email: 'a@b.co',
			password: 'x'.repeat(20_000)
		});
		expect(huge.status).toBe(413);
		const [{ count }] =
			await sql`select count(*)::int as count from "user" where email in ('long@example.com', 'not-an-email')`;
		expect(count).toBe(0);

		for (const path of [
			'/api/auth/ok',
			'/api/auth/admin/list-users',
			'/api/auth/reset-password/abc',
			'/api/auth/update-user',
			'/api/auth/change-password'
		]) {
			const response = await who.request(path, { method: path.includes('list') ? 'GET' : 'POST' });
			expect(response.status, path).toBe(404);
		}
		expect((await who.get('/api/auth/get-session')).status).toBe(200);
	});
});

describe('behind a proxy (ADDRESS_HEADER and XFF_DEPTH set)', () => {
	let app: AppServer;

	beforeAll(async () => {
		app = await startAppServer({
			AUTH_RATE_PER_MINUTE: '2',
			ADDRESS_HEADER: 'x-forwarded-for',
			XFF_DEPTH: '1'
		});
	});
	afterAll(async () => {
		await app?.stop();
	});

	it('keys on the address the proxy reports', async () => {
		// Every request comes from the proxy's socket; the header tells the clients apart.
		const proxy = new HttpClient(app.url);
		const attempt = (clientAddress: string, i: number) =>
			proxy.request('/login', {
				method: 'POST',
				headers: {
					'content-type': 'application/x-www-form-urlencoded',
					accept: 'text/html',
					'x-forwarded-for': clientAddress
				},
				body: new URLSearchParams({ email: `p-${i}@example.com`, password: 'x' }).toString()
			});
		const first = [];
		for (let i = 0; i < 3; i++) first.push((await attempt('203.0.113.1', i)).status);
		expect(first).toEqual([400, 400, 429]);
		expect((await attempt('203.0.113.2', 9)).status).toBe(400);
	});
});
