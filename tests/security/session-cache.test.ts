// The chat API reads the session from better-auth's signed cookie cache (no database round trip
// before the first token); nothing else does. These tests pin both halves: what a revoked session
// or a demoted admin can still do, for how long, and that a forged cache is worthless.
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { sendChat } from '../helpers/chat-client';
import { HttpClient, signUp, signUpAdmin } from '../helpers/http-client';

const CACHE_SECONDS = 3;

describe('the session cookie cache (AUTH_SESSION_CACHE_SECONDS)', () => {
	let app: AppServer;
	let sql: postgres.Sql;

	beforeAll(async () => {
		app = await startAppServer({
			AUTH_SESSION_CACHE_SECONDS: String(CACHE_SECONDS),
			DEMO_MODEL_DELAY_MS: '0'
		});
		sql = postgres(app.databaseUrl, { max: 1, onnotice: () => {} });
	});
	afterAll(async () => {
		await sql?.end();
		await app?.stop();
	});

	/** A request with exactly these cookies and no jar: what a copied cookie header can do. */
	const withCookies = (cookie: string, path: string) =>
		fetch(app.url + path, { headers: { cookie, origin: app.url }, redirect: 'manual' });

	it('lets a revoked session chat only until the cache expires, and nowhere else', async () => {
		const { client, userId } = await signUp(app.url, 'cache-revoked@example.com');
		// Any database read of the session (here the sign-up's /api/credits) renews the cache.
		await client.get('/api/credits');
		const issuedAt = Date.now();
		const cookie = client.cookieHeader();
		expect(cookie).toMatch(/session_data=/);
		// Signed out everywhere, as a password reset or a ban does.
		await sql`delete from session where user_id = ${userId}`;

		const cached = await sendChat(client, { model: 'demo', text: 'Still signed in?' });
		expect(cached.status).toBe(200);
		const [chat] = await sql`select user_id from chat where id = ${cached.chatId}`;
		expect(chat.user_id).toBe(userId);
		// Every other path reads the session row: refused at once.
		expect((await withCookies(cookie, '/api/credits')).status).toBe(401);

		await new Promise((resolve) =>
			setTimeout(resolve, issuedAt + CACHE_SECONDS * 1000 + 500 - Date.now())
		);
		const late = await sendChat(new HttpClientWith(app.url, cookie), { model: 'demo' });
		expect(late.status).toBe(401);
	});

	it('never serves the admin area from the cache: a demoted admin is refused at once', async () => {
		const { client, userId } = await signUpAdmin(app, 'cache-admin@example.com');
		expect((await client.get('/api/admin/overview')).status).toBe(200);
		await sql`update "user" set role = 'user' where id = ${userId}`;
		expect((await client.get('/api/admin/overview')).status).toBe(403);
	});

	it('ignores a forged cache: the signature fails and the session row decides who asks', async () => {
		const victim = await signUp(app.url, 'cache-victim@example.com');
		const attacker = await signUp(app.url, 'cache-attacker@example.com');
		await attacker.client.get('/api/credits');
		const cookie = attacker.client.cookieHeader();
		const data = /session_data=([^;]+)/.exec(cookie)?.[1];
		expect(data).toBeTruthy();
		// The payload is readable (base64url JSON, its own owner's data) but signed: swap the user.
		const decoded = JSON.parse(Buffer.from(decodeURIComponent(data!), 'base64url').toString());
		const forged = JSON.stringify(decoded).replaceAll(attacker.userId, victim.userId);
		expect(forged).not.toBe(JSON.stringify(decoded));
		const forgedCookie = cookie.replace(
			data!,
			encodeURIComponent(Buffer.from(forged).toString('base64url'))
		);

		const reply = await sendChat(new HttpClientWith(app.url, forgedCookie), {
			model: 'demo',
			text: 'Whose chat is this?'
		});
		expect(reply.status).toBe(200);
		const [chat] = await sql`select user_id from chat where id = ${reply.chatId}`;
		expect(chat.user_id).toBe(attacker.userId);
	});

	it('remembers no answer the cache did not sign: a forged expiry buys no time', async () => {
		// The app remembers a verified cache until its signed expiry (auth/session-memo.ts). A
		// cache with a forged, far-off expiry fails its signature: the session row answers, and
		// that answer must not be remembered until the forged time.
		const { client, userId } = await signUp(app.url, 'cache-forged-expiry@example.com');
		await client.get('/api/credits');
		const cookie = client.cookieHeader();
		const data = /session_data=([^;]+)/.exec(cookie)?.[1];
		expect(data).toBeTruthy();
		const decoded = JSON.parse(Buffer.from(decodeURIComponent(data!), 'base64url').toString());
		decoded.expiresAt = Date.now() + 3_600_000;
		const forgedCookie = cookie.replace(
			data!,
			encodeURIComponent(Buffer.from(JSON.stringify(decoded)).toString('base64url'))
		);
		const first = await sendChat(new HttpClientWith(app.url, forgedCookie), { model: 'demo' });
		expect(first.status).toBe(200);
		await sql`delete from session where user_id = ${userId}`;
		const after = await sendChat(new HttpClientWith(app.url, forgedCookie), { model: 'demo' });
		expect(after.status).toBe(401);
	});
});

/** An HttpClient that starts with the given Cookie header (a copied or forged one). */
class HttpClientWith extends HttpClient {
	constructor(baseUrl: string, cookie: string) {
		super(baseUrl);
		for (const pair of cookie.split('; ')) {
			const at = pair.indexOf('=');
			this.setCookie(pair.slice(0, at), pair.slice(at + 1));
		}
	}
}
