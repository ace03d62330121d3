import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { launchChromium, screenshotPath } from '../helpers/browser';

const PASSWORD = 'analytical engine';
const NEW_PASSWORD = 'difference engine 2';

describe('account settings in a real browser', () => {
	let app: AppServer;
	let throttled: AppServer;
	let browser: Browser;
	let sql: postgres.Sql;
	let users = 0;

	beforeAll(async () => {
		[app, throttled, browser] = await Promise.all([
			startAppServer({ DEMO_MODEL_DELAY_MS: '1', SWEEP_INTERVAL_SECONDS: '0' }),
			startAppServer({ AUTH_RATE_PER_MINUTE: '3', SWEEP_INTERVAL_SECONDS: '0' }),
			launchChromium()
		]);
		sql = postgres(app.databaseUrl, { max: 1, onnotice: () => {} });
	});
	afterAll(async () => {
		await sql?.end();
		await browser?.close();
		await Promise.all([app?.stop(), throttled?.stop()]);
	});

	async function newContext(width = 1280): Promise<BrowserContext> {
		return browser.newContext({ viewport: { width, height: 900 } });
	}

	async function hydrated(page: Page) {
		await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
	}

	/** Signs a new user up in a fresh context; returns the page (on the dashboard) and the user. */
	async function signUp(server = app, width = 1280) {
		const email = `settings-${++users}-${Date.now()}@example.com`;
		const page = await (await newContext(width)).newPage();
		await page.goto(`${server.url}/signup`);
		await page.getByLabel('Name').fill('Ada Lovelace');
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL('**/dashboard');
		const { userId } = await (await page.request.get(`${server.url}/api/credits`)).json();
		return { page, email, userId: userId as string };
	}

	/** Signs in from a fresh context (another device); resolves to the page or the login error. */
	async function signIn(email: string, password: string) {
		const page = await (await newContext()).newPage();
		await page.goto(`${app.url}/login`);
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(password);
		await page.getByRole('button', { name: 'Sign in' }).click();
		await Promise.race([page.waitForURL('**/dashboard'), page.getByRole('alert').waitFor()]);
		return page;
	}

	/** Whether this page's browser still has a session: the dashboard sends strangers to /login. */
	async function signedIn(page: Page): Promise<boolean> {
		await page.goto(`${app.url}/dashboard/settings`);
		return new URL(page.url()).pathname === '/dashboard/settings';
	}

	async function openSettings(page: Page) {
		await hydrated(page);
		await page.getByRole('button', { name: 'Account menu' }).click();
		await page.getByRole('menuitem', { name: 'Settings' }).click();
		await page.waitForURL('**/dashboard/settings');
		await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
		await hydrated(page);
	}

	const section = (page: Page, name: string) => page.getByRole('region', { name });

	it('changes the display name, shown in the account menu', async () => {
		const { page } = await signUp();
		await openSettings(page);
		const name = section(page, 'Name');

		await name.getByLabel('Display name').fill('   ');
		await name.getByRole('button', { name: 'Save name' }).click();
		await expect(name.getByText('Enter a name.').textContent()).resolves.toBe('Enter a name.');

		await name.getByLabel('Display name').fill('  Ada King  ');
		await name.getByRole('button', { name: 'Save name' }).click();
		await name.getByRole('status').getByText('Your name is saved.').waitFor();
		await page.getByRole('button', { name: 'Account menu' }).click();
		await expect(page.getByRole('menu').textContent()).resolves.toContain('Ada King');
		await page.keyboard.press('Escape');
		await page.goto(`${app.url}/dashboard`);
		await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
			'Welcome, Ada King'
		);
		await page.context().close();
	});

	it('changes the password: a wrong one is refused, other devices are signed out', async () => {
		const { page, email } = await signUp();
		const other = await signIn(email, PASSWORD);
		expect(new URL(other.url()).pathname).toBe('/dashboard');
		await openSettings(page);
		const form = section(page, 'Password');

		await form.getByLabel('Current password').fill('not my password');
		await form.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
		await form.getByLabel('Repeat the new password').fill(NEW_PASSWORD);
		await form.getByRole('button', { name: 'Change password' }).click();
		await form.getByText('That is not your current password.').waitFor();
		await page.screenshot({ path: screenshotPath('settings-01-wrong-password'), fullPage: true });
		expect(await signedIn(other)).toBe(true);

		await form.getByLabel('Current password').fill(PASSWORD);
		await form.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
		await form.getByLabel('Repeat the new password').fill('something else');
		await form.getByRole('button', { name: 'Change password' }).click();
		await form.getByText('The two passwords are not the same.').waitFor();

		await form.getByLabel('Current password').fill(PASSWORD);
		await form.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
		await form.getByLabel('Repeat the new password').fill(NEW_PASSWORD);
		await form.getByRole('button', { name: 'Change password' }).click();
		await form
			.getByRole('status')
			.getByText(/Every other device has been signed out/)
			.waitFor();
		// This device got a new session; the other one lost its own.
		expect(await signedIn(page)).toBe(true);
		expect(await signedIn(other)).toBe(false);

		const withOld = await signIn(email, PASSWORD);
		await expect(withOld.getByRole('alert').textContent()).resolves.toContain('do not match');
		const withNew = await signIn(email, NEW_PASSWORD);
		expect(new URL(withNew.url()).pathname).toBe('/dashboard');
		for (const p of [page, other, withOld, withNew]) await p.context().close();
	});

	it('lists the sessions and signs out everywhere else', async () => {
		const { page, email } = await signUp();
		const second = await signIn(email, PASSWORD);
		const third = await signIn(email, PASSWORD);
		await openSettings(page);
		const sessions = section(page, "Where you're signed in");
		const items = sessions.getByRole('listitem');
		await expect(items.count()).resolves.toBe(3);
		await expect(sessions.getByText('This device').count()).resolves.toBe(1);
		await expect(items.first().textContent()).resolves.toContain('This device');
		await expect(items.first().textContent()).resolves.toContain('Headless Chrome on Linux');
		// The address is the one better-auth recorded at sign-in (see the session's ip_address).
		await sql`
			update session set ip_address = '203.0.113.7'
			where user_id = (select id from "user" where email = ${email})`;
		await page.reload();
		await expect(items.first().textContent()).resolves.toContain('203.0.113.7');
		// Tokens never reach the browser: only ids are posted.
		const html = await page.content();
		const tokens = await sql<{ token: string }[]>`
			select token from session where user_id = (select id from "user" where email = ${email})`;
		for (const { token } of tokens) expect(html).not.toContain(token);
		await page.screenshot({ path: screenshotPath('settings-02-sessions'), fullPage: true });

		// One other device alone…
		await items
			.nth(1)
			.getByRole('button', { name: /^Sign out/ })
			.click();
		await sessions.getByRole('status').getByText('That device has been signed out.').waitFor();
		await expect.poll(() => items.count()).toBe(2);
		const stillIn = [await signedIn(second), await signedIn(third)];
		expect(stillIn.sort()).toEqual([false, true]);

		// …then all of them.
		await sessions.getByRole('button', { name: 'Sign out everywhere else' }).click();
		await sessions
			.getByRole('status')
			.getByText('Every other device has been signed out.')
			.waitFor();
		await expect.poll(() => items.count()).toBe(1);
		expect(await signedIn(second)).toBe(false);
		expect(await signedIn(third)).toBe(false);
		expect(await signedIn(page)).toBe(true);
		for (const p of [page, second, third]) await p.context().close();
	});

	it('throttles password changes per account', async () => {
		const { page } = await signUp(throttled);
		await page.goto(`${throttled.url}/dashboard/settings`);
		await hydrated(page);
		const form = section(page, 'Password');
		for (let attempt = 1; attempt <= 4; attempt++) {
			await form.getByLabel('Current password').fill(`guess ${attempt}`);
			await form.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
			await form.getByLabel('Repeat the new password').fill(NEW_PASSWORD);
			const [answer] = await Promise.all([
				page.waitForResponse(
					(r) => r.url().includes('/password') && r.request().method() === 'POST'
				),
				form.getByRole('button', { name: 'Change password' }).click()
			]);
			expect(answer.status()).toBe(200);
		}
		await expect(form.getByRole('alert').textContent()).resolves.toContain('Too many attempts');
		await page.context().close();
	});

	it('deletes the account after the email is typed, and it cannot sign in again', async () => {
		const { page, email, userId } = await signUp(app, 375);
		const reply = await page.request.post(`${app.url}/api/chat`, {
			data: {
				id: `chat-${userId}`,
				message: { id: 'm1', role: 'user', parts: [{ type: 'text', text: 'Hello there' }] },
				model: 'demo'
			}
		});
		expect(reply.status()).toBe(200);
		await reply.text();
		const chats = () => sql`select id from chat where user_id = ${userId}`;
		await expect(chats()).resolves.toHaveLength(1);

		await openSettings(page);
		await page.getByRole('button', { name: 'Switch to dark mode' }).click();
		const overflow = await page.evaluate(
			() => document.documentElement.scrollWidth - document.documentElement.clientWidth
		);
		expect(overflow).toBe(0);
		await page.screenshot({ path: screenshotPath('settings-03-mobile-dark'), fullPage: true });

		const danger = section(page, 'Delete account');
		await expect(
			danger.getByRole('link', { name: 'billing portal' }).getAttribute('href')
		).resolves.toBe('/dashboard/billing/portal');
		await danger.getByLabel(/Type your email address/).fill('someone.else@example.com');
		await danger.getByRole('button', { name: 'Delete my account' }).click();
		await danger.getByText('That is not the email address of this account.').waitFor();
		await expect(chats()).resolves.toHaveLength(1);
		expect(await signedIn(page)).toBe(true);

		await hydrated(page);
		await danger.getByLabel(/Type your email address/).fill(` ${email.toUpperCase()} `);
		await danger.getByRole('button', { name: 'Delete my account' }).click();
		await page.waitForURL('**/?deleted=1');
		await expect(page.getByRole('status').textContent()).resolves.toContain(
			'Your account has been deleted'
		);
		await page.screenshot({ path: screenshotPath('settings-04-deleted'), fullPage: true });
		const cookies = await page.context().cookies();
		expect(cookies.filter((c) => c.name.includes('session_token'))).toEqual([]);
		expect(await signedIn(page)).toBe(false);

		const again = await signIn(email, PASSWORD);
		await expect(again.getByRole('alert').textContent()).resolves.toContain('do not match');
		await expect(chats()).resolves.toHaveLength(0);
		await expect(sql`select 1 from chat_message where user_id = ${userId}`).resolves.toHaveLength(
			0
		);
		const [row] = await sql`select email, name, banned from "user" where id = ${userId}`;
		expect(row).toEqual({
			email: `deleted-${userId}@deleted.invalid`,
			name: 'Deleted user',
			banned: true
		});
		// The reply's charge stays in the ledger, and the rest was forfeited there.
		const ledger = await sql`
			select type, balance_after from credit_transaction where user_id = ${userId} order by id`;
		expect(ledger.map((r) => r.type)).toContain('usage');
		expect(ledger.at(-1)).toEqual({ type: 'adjust', balance_after: 0 });
		for (const p of [page, again]) await p.context().close();
	});
});
