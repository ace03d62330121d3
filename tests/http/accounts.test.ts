import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmailVerificationToken } from 'better-auth/api';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
	launchApp,
	spawnApp,
	startAppServer,
	TEST_SECRET,
	type AppServer
} from '../helpers/app-server';
import { sendChat } from '../helpers/chat-client';
import { HttpClient } from '../helpers/http-client';
import { linkTo, startMailServer, type MailServer } from '../helpers/mail-server';

const PASSWORD = 'correct horse';

/** A page with the typed address and the per-response CSP nonce taken out. */
function normalised(html: string, email: string): string {
	return html.replaceAll(email, 'X').replace(/nonce="[^"]*"/g, 'nonce=""');
}

describe('accounts with a mail server: verification, admin by verified owners, password reset', () => {
	let mail: MailServer;
	let app: AppServer;
	let sql: postgres.Sql;

	beforeAll(async () => {
		mail = await startMailServer();
		app = await startAppServer({
			SMTP_URL: mail.url,
			MAIL_FROM: 'credit-chat <no-reply@example.com>',
			ADMIN_EMAILS: 'owner@example.com',
			DEMO_MODEL_DELAY_MS: '0',
			SIGNUP_BONUS_CREDITS: '8'
		});
		sql = postgres(app.databaseUrl, { max: 1 });
	});
	afterAll(async () => {
		await sql?.end();
		await app?.stop();
		await mail?.close();
	});

	async function signUpForm(email: string, client = new HttpClient(app.url)) {
		const response = await client.postForm('/signup', { name: 'Mia', email, password: PASSWORD });
		return { client, response, body: await response.text() };
	}

	async function signIn(email: string, password = PASSWORD) {
		const client = new HttpClient(app.url);
		const response = await client.postForm('/login', { email, password });
		return { client, response };
	}

	/** Opens the link of the newest confirmation email in a fresh client (another device). */
	async function openVerificationLink(email: string) {
		const message = await mail.waitFor(email, /Confirm your email/);
		const link = linkTo(message, '/verify-email');
		const client = new HttpClient(app.url);
		const response = await client.get(link.pathname + link.search);
		return { client, response, link };
	}

	async function bonusPackages(email: string): Promise<number> {
		const [row] = await sql<{ n: number }[]>`
			select count(*)::int as n from credit_package p join "user" u on u.id = p.user_id
			where lower(u.email) = ${email} and p.source = 'signup_bonus'`;
		return row.n;
	}

	it('says "check your inbox", signs nobody in, and the link signs in, unlocks chat and grants the bonus once', async () => {
		const email = 'mia@example.com';
		const { client, response, body } = await signUpForm(email);
		expect(response.status).toBe(200);
		expect(body).toContain('Check your inbox');
		expect(client.hasSession()).toBe(false);

		// Signed in with the password but unverified: the dashboard works, the chat does not.
		const signedIn = await signIn(email);
		expect(signedIn.response.status).toBe(303);
		const refused = await sendChat(signedIn.client, { model: 'demo' });
		expect(refused.status).toBe(403);
		expect(refused.error?.code).toBe('email_unverified');
		expect(refused.error?.message).toMatch(/confirm your email/i);
		const before = await (await signedIn.client.get('/api/credits')).json();
		expect(before.balance).toBe(0);
		expect(await bonusPackages(email)).toBe(0);
		const dashboard = await (await signedIn.client.get('/dashboard')).text();
		expect(dashboard).toContain('Confirm your email address to start chatting');

		const first = await openVerificationLink(email);
		expect(first.response.status).toBe(303);
		expect(first.response.headers.get('location')).toBe('/dashboard/chat?verified=1');
		expect(first.client.hasSession()).toBe(true);
		const reply = await sendChat(first.client, { model: 'demo' });
		expect(reply.status).toBe(200);
		expect(await bonusPackages(email)).toBe(1);

		// The same link again (a second click, or a mail scanner first): nothing more is granted.
		const again = await new HttpClient(app.url).get(first.link.pathname + first.link.search);
		expect(again.status).toBe(303);
		expect(await bonusPackages(email)).toBe(1);
		// The earlier password session now chats too: verification belongs to the account.
		expect((await sendChat(signedIn.client, { model: 'demo' })).status).toBe(200);
	});

	it('refuses a forged or expired confirmation link with a page that offers a new one', async () => {
		const forged = await new HttpClient(app.url).get('/verify-email?token=not-a-token');
		expect(forged.status).toBe(200);
		expect(await forged.text()).toContain('This link is not valid');
		const huge = await new HttpClient(app.url).get(`/verify-email?token=${'x'.repeat(5000)}`);
		expect(huge.status).toBe(200);
		expect(await huge.text()).toContain('This link is not valid');

		// A genuine link, signed with the server's secret, an hour and more after it was sent.
		await signUpForm('late@example.com');
		const [late] = await sql<
			{ id: string }[]
		>`select id from "user" where email = 'late@example.com'`;
		const expired = await createEmailVerificationToken(
			TEST_SECRET,
			'late@example.com',
			undefined,
			-60,
			{
				userId: late.id
			}
		);
		const page = await new HttpClient(app.url).get(`/verify-email?token=${expired}`);
		expect(page.status).toBe(200);
		expect(await page.text()).toContain('This link has expired');
		const [still] = await sql`select email_verified from "user" where id = ${late.id}`;
		expect(still.email_verified).toBe(false);
	});

	it('answers a sign-up with a registered address exactly like a new one, and tells the owner', async () => {
		const owner = 'taken@example.com';
		await signUpForm(owner);
		await openVerificationLink(owner);

		const repeat = await signUpForm(owner);
		const fresh = await signUpForm('fresh@example.com');
		expect(repeat.response.status).toBe(fresh.response.status);
		expect(normalised(repeat.body, owner)).toBe(normalised(fresh.body, 'fresh@example.com'));
		expect(repeat.client.hasSession()).toBe(false);
		const notice = await mail.waitFor(owner, /already have/);
		expect(linkTo(notice, '/forgot-password')).toBeTruthy();

		// The JSON API answers both the same way too.
		const api = async (email: string) => {
			const response = await new HttpClient(app.url).request('/api/auth/sign-up/email', {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify({ name: 'Mia', email, password: PASSWORD })
			});
			const body = await response.json();
			return { status: response.status, token: body.token, keys: Object.keys(body.user).sort() };
		};
		expect(await api(owner)).toEqual(await api('fresh-api@example.com'));

		// An address that signed up but never confirmed simply gets a new link.
		await signUpForm('fresh@example.com');
		await mail.waitFor('fresh@example.com', /Confirm your email/);
		await mail.waitFor('fresh@example.com', /Confirm your email/);
	});

	it('makes an ADMIN_EMAILS address an admin only once it is verified', async () => {
		const email = 'owner@example.com';
		await signUpForm(email);
		const { client } = await signIn(email);
		expect((await client.get('/admin')).status).toBe(403);
		expect((await client.get('/api/admin/overview')).status).toBe(403);

		await openVerificationLink(email);
		expect((await client.get('/admin')).status).toBe(200);
	});

	it('promotes an already verified ADMIN_EMAILS address at start-up', async () => {
		const email = 'verified-first@example.com';
		await signUpForm(email);
		await openVerificationLink(email);
		const { client } = await signIn(email);
		expect((await client.get('/admin')).status).toBe(403);

		// The operator adds the address and restarts: a second instance on the same database.
		const second = await launchApp({
			DATABASE_URL: app.databaseUrl,
			SMTP_URL: mail.url,
			ADMIN_EMAILS: email
		});
		try {
			expect(second.output()).toContain(`ADMIN_EMAILS: ${email} is verified and now an admin.`);
			expect((await client.get('/admin')).status).toBe(200);
		} finally {
			await second.stop();
		}
	});

	it('resets a forgotten password with a one-time link and signs every session out', async () => {
		const email = 'forgetful@example.com';
		await signUpForm(email);
		await openVerificationLink(email);
		const laptop = await signIn(email);
		const phone = await signIn(email);
		expect((await laptop.client.get('/api/credits')).status).toBe(200);

		const stranger = new HttpClient(app.url);
		const asked = await stranger.postForm('/forgot-password', { email });
		const unknown = await stranger.postForm('/forgot-password', { email: 'nobody@example.com' });
		expect(asked.status).toBe(200);
		expect(unknown.status).toBe(200);
		expect(normalised(await asked.text(), email)).toBe(
			normalised(await unknown.text(), 'nobody@example.com')
		);

		const link = linkTo(await mail.waitFor(email, /Reset your/), '/reset-password');
		const page = await stranger.get(link.pathname + link.search);
		expect(await page.text()).toContain('Set new password');
		const mismatch = await stranger.postForm('/reset-password', {
			token: link.searchParams.get('token')!,
			password: 'brand new secret',
			confirm: 'brand new secrez'
		});
		expect(mismatch.status).toBe(400);
		expect(await mismatch.text()).toContain('The two passwords are not the same');

		const reset = await stranger.postForm('/reset-password', {
			token: link.searchParams.get('token')!,
			password: 'brand new secret',
			confirm: 'brand new secret'
		});
		expect(reset.status).toBe(303);
		expect(reset.headers.get('location')).toBe('/login?reset=1');
		expect((await laptop.client.get('/api/credits')).status).toBe(401);
		expect((await phone.client.get('/api/credits')).status).toBe(401);
		expect((await signIn(email)).response.status).toBe(400);
		expect((await signIn(email, 'brand new secret')).response.status).toBe(303);

		// The link is spent.
		expect(await (await stranger.get(link.pathname + link.search)).text()).toContain(
			'This link has expired or was already used'
		);
		const reused = await stranger.postForm('/reset-password', {
			token: link.searchParams.get('token')!,
			password: 'another new secret',
			confirm: 'another new secret'
		});
		expect(reused.status).toBe(400);
		expect((await signIn(email, 'another new secret')).response.status).toBe(400);
	});

	it('refuses a reset link after its hour', async () => {
		const email = 'slow@example.com';
		await signUpForm(email);
		await openVerificationLink(email);
		await new HttpClient(app.url).postForm('/forgot-password', { email });
		const link = linkTo(await mail.waitFor(email, /Reset your/), '/reset-password');
		await sql`update verification set expires_at = now() - interval '1 second'
			where value = (select id from "user" where email = ${email})`;

		const client = new HttpClient(app.url);
		expect(await (await client.get(link.pathname + link.search)).text()).toContain(
			'This link has expired or was already used'
		);
		const late = await client.postForm('/reset-password', {
			token: link.searchParams.get('token')!,
			password: 'too late secret',
			confirm: 'too late secret'
		});
		expect(late.status).toBe(400);
		expect((await signIn(email)).response.status).toBe(303);
	});

	it('records the address the server saw on a session, not a forged X-Forwarded-For', async () => {
		const email = 'where@example.com';
		await signUpForm(email);
		await openVerificationLink(email);
		const client = new HttpClient(app.url, { localAddress: '127.0.0.9' });
		const response = await client.request('/login', {
			method: 'POST',
			headers: {
				'content-type': 'application/x-www-form-urlencoded',
				accept: 'text/html',
				'x-forwarded-for': '203.0.113.99'
			},
			body: new URLSearchParams({ email, password: PASSWORD }).toString()
		});
		expect(response.status).toBe(303);
		const rows = await sql<{ ip: string }[]>`
			select s.ip_address as ip from session s join "user" u on u.id = s.user_id
			where u.email = ${email} order by s.created_at`;
		expect(rows.map((row) => row.ip)).toEqual(['127.0.0.1', '127.0.0.9']);
	});

	it('resends a confirmation link on request, answering alike for unknown addresses', async () => {
		const email = 'resend@example.com';
		await signUpForm(email);
		await mail.waitFor(email, /Confirm your email/);
		const client = new HttpClient(app.url);
		const known = await client.postForm('/verify-email?/resend', { email });
		const unknown = await client.postForm('/verify-email?/resend', { email: 'ghost@example.com' });
		expect(known.status).toBe(200);
		expect(normalised(await known.text(), email)).toBe(
			normalised(await unknown.text(), 'ghost@example.com')
		);
		const message = await mail.waitFor(email, /Confirm your email/);
		expect(linkTo(message, '/verify-email').searchParams.get('token')).toBeTruthy();
		expect(message.html).toContain('Confirm my email');
		const bad = await client.postForm('/verify-email?/resend', { email: 'not an email' });
		expect(bad.status).toBe(400);
	});
});

describe('account email limits', () => {
	let mail: MailServer;
	let app: AppServer;

	beforeAll(async () => {
		mail = await startMailServer();
		app = await startAppServer({
			SMTP_URL: mail.url,
			AUTH_RATE_PER_MINUTE: '3',
			AUTH_EMAILS_PER_HOUR: '2'
		});
	});
	afterAll(async () => {
		await app?.stop();
		await mail?.close();
	});

	it('limits password-reset requests per client address and per account, with Retry-After', async () => {
		const one = new HttpClient(app.url, { localAddress: '127.0.0.21' });
		for (let i = 0; i < 3; i++) {
			expect((await one.postForm('/forgot-password', { email: `a${i}@example.com` })).status).toBe(
				200
			);
		}
		const refused = await one.postForm('/forgot-password', { email: 'a9@example.com' });
		expect(refused.status).toBe(429);
		expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
		expect(await refused.text()).toContain('Too many attempts');

		// Many addresses against one account.
		const statuses = [];
		for (let i = 0; i < 4; i++) {
			const client = new HttpClient(app.url, { localAddress: `127.0.0.${30 + i}` });
			statuses.push(
				(await client.postForm('/forgot-password', { email: 'target@example.com' })).status
			);
		}
		expect(statuses).toEqual([200, 200, 200, 429]);
	});

	it('sends one address at most AUTH_EMAILS_PER_HOUR account emails, whatever asks', async () => {
		const email = 'inbox@example.com';
		const client = new HttpClient(app.url, { localAddress: '127.0.0.40' });
		const signUp = await client.postForm('/signup', { name: 'In', email, password: PASSWORD });
		expect(signUp.status).toBe(200);
		for (const address of ['127.0.0.41', '127.0.0.42']) {
			const asker = new HttpClient(app.url, { localAddress: address });
			expect((await asker.postForm('/verify-email?/resend', { email })).status).toBe(200);
		}
		await mail.waitFor(email, /Confirm/);
		await mail.waitFor(email, /Confirm/);
		await new Promise((resolve) => setTimeout(resolve, 500));
		expect(mail.to(email)).toHaveLength(2);
	});
});

describe('accounts without a mail server (production, verification off)', () => {
	let app: AppServer;
	let dataDir: string;

	beforeAll(async () => {
		dataDir = await mkdtemp(join(tmpdir(), 'credit-chat-mail-'));
		app = await startAppServer({ ADMIN_EMAILS: 'boss@example.com', DATA_DIR: dataDir });
	});
	afterAll(async () => {
		await app?.stop();
		await rm(dataDir, { recursive: true, force: true });
	});

	it('never makes an ADMIN_EMAILS address an admin by sign-up, and says to use admin:grant', async () => {
		expect(app.output()).toContain('npm run admin:grant');
		expect(app.output()).toContain('SMTP_URL is not set');
		const client = new HttpClient(app.url);
		const response = await client.postForm('/signup', {
			name: 'Boss',
			email: 'boss@example.com',
			password: PASSWORD
		});
		expect(response.status).toBe(303);
		expect(client.hasSession()).toBe(true);
		expect((await client.get('/admin')).status).toBe(403);
	});

	it('refuses to start with SMTP_URL but no ORIGIN: email links must not follow the Host header', async () => {
		const child = spawnApp({
			PORT: '0',
			DATABASE_URL: app.databaseUrl,
			BETTER_AUTH_SECRET: TEST_SECRET,
			DEMO_MODEL: 'on',
			SMTP_URL: 'smtp://127.0.0.1:9'
		});
		let stderr = '';
		child.stderr?.on('data', (chunk) => (stderr += chunk));
		const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
		expect(code).toBe(1);
		expect(stderr.trim()).toBe(
			'credit-chat cannot start: SMTP_URL is set but ORIGIN (or BETTER_AUTH_URL) is not: set it to the public URL, e.g. https://chat.example.com, so links in emails point to this server.'
		);
	});

	it('keeps account emails in DATA_DIR/mail and prints them', async () => {
		const client = new HttpClient(app.url);
		await client.postForm('/signup', { name: 'Kim', email: 'kim@example.com', password: PASSWORD });
		expect((await client.postForm('/forgot-password', { email: 'kim@example.com' })).status).toBe(
			200
		);
		const outbox = join(dataDir, 'mail');
		let files: string[] = [];
		for (let i = 0; i < 100 && files.length === 0; i++) {
			files = await readdir(outbox).catch(() => []);
			if (files.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
		}
		expect(files).toHaveLength(1);
		expect(files[0]).toMatch(/kim-example\.com\.eml$/);
		const raw = await readFile(join(outbox, files[0]), 'utf8');
		expect(raw).toContain('Subject: Reset your credit-chat password');
		expect(app.output()).toContain('[mail] (no SMTP_URL) to kim@example.com');
		expect(app.output()).toMatch(/\/reset-password\?token=\w+/);
	});
});
