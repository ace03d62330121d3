import postgres from 'postgres';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { launchChromium, screenshotPath } from '../helpers/browser';
import { linkTo, startMailServer, type MailServer } from '../helpers/mail-server';

const PASSWORD = 'analytical engine';

describe('email verification and password reset in a real browser', () => {
	let mail: MailServer;
	let app: AppServer;
	let browser: Browser;
	let sql: postgres.Sql;

	beforeAll(async () => {
		mail = await startMailServer();
		[app, browser] = await Promise.all([
			startAppServer({ SMTP_URL: mail.url, SIGNUP_BONUS_CREDITS: '8', DEMO_MODEL_DELAY_MS: '0' }),
			launchChromium()
		]);
		sql = postgres(app.databaseUrl, { max: 1 });
	});
	afterAll(async () => {
		await sql?.end();
		await browser?.close();
		await app?.stop();
		await mail?.close();
	});

	async function newPage(): Promise<Page> {
		const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
		return context.newPage();
	}

	async function hydrated(page: Page) {
		await page.waitForLoadState('networkidle');
		await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
	}

	async function signIn(page: Page, email: string, password = PASSWORD) {
		await page.goto(`${app.url}/login`);
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(password);
		await page.getByRole('button', { name: 'Sign in' }).click();
	}

	it('signs up, waits for the email, and the link signs in with chat unlocked and the bonus granted once', async () => {
		const email = 'ada@example.com';
		const page = await newPage();
		await page.goto(`${app.url}/signup`);
		await hydrated(page);
		await page.getByLabel('Name').fill('Ada');
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
		await expect(page.getByRole('status').textContent()).resolves.toContain(
			`We sent a link to ${email}`
		);
		await page.screenshot({ path: screenshotPath('verify-01-check-inbox'), fullPage: true });

		// Signed in with the password before confirming: told what to do, and the chat refuses.
		await signIn(page, email);
		await page.waitForURL('**/dashboard');
		const notice = page.getByTestId('email-notice');
		await expect(notice.textContent()).resolves.toContain(
			'Confirm your email address to start chatting'
		);
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		const composer = page.getByLabel('Message');
		await expect(composer.isDisabled()).resolves.toBe(true);
		await expect(composer.getAttribute('placeholder')).resolves.toBe(
			'Confirm your email to start chatting'
		);
		await expect(page.getByTestId('email-notice').isVisible()).resolves.toBe(true);
		await expect(page.getByTestId('out-of-credits').count()).resolves.toBe(0);
		// The notice shortens the chat instead of pushing it below the window (it scrolled ~50 px).
		const overflow = await page.evaluate(
			() => document.documentElement.scrollHeight - window.innerHeight
		);
		expect(overflow).toBeLessThanOrEqual(0);
		await expect(composer.isVisible()).resolves.toBe(true);
		const box = await composer.boundingBox();
		expect(box!.y + box!.height).toBeLessThanOrEqual(page.viewportSize()!.height);
		await page.screenshot({ path: screenshotPath('verify-02-unverified-chat'), fullPage: true });
		await page.context().close();

		// The link, opened in a fresh browser (say, the phone that got the email).
		const link = linkTo(await mail.waitFor(email, /Confirm your email/), '/verify-email');
		const phone = await newPage();
		await phone.goto(link.href);
		await phone.waitForURL('**/dashboard/chat?verified=1');
		await expect(phone.getByRole('status').first().textContent()).resolves.toContain(
			'Your email is confirmed'
		);
		await expect(phone.getByTestId('credit-badge').textContent()).resolves.toContain('8');
		await hydrated(phone);
		await phone.getByLabel('Message').fill('Hello!');
		await phone.getByLabel('Message').press('Enter');
		await phone.getByRole('button', { name: 'Regenerate' }).waitFor();
		await phone.screenshot({ path: screenshotPath('verify-03-confirmed-chat'), fullPage: true });

		// A second click on the link grants nothing more.
		await phone.goto(link.href);
		await phone.waitForURL('**/dashboard/chat?verified=1');
		const [bonus] = await sql<{ n: number }[]>`
			select count(*)::int as n from credit_package p join "user" u on u.id = p.user_id
			where u.email = ${email} and p.source = 'signup_bonus'`;
		expect(bonus.n).toBe(1);
		await phone.context().close();
	});

	it('resets a forgotten password from the login page', async () => {
		const email = 'grace@example.com';
		const page = await newPage();
		await page.goto(`${app.url}/signup`);
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
		await page.goto(linkTo(await mail.waitFor(email, /Confirm your email/), '/verify-email').href);
		await page.waitForURL('**/dashboard/chat?verified=1');
		const other = await newPage();
		await signIn(other, email);
		await other.waitForURL('**/dashboard');

		const stranger = await newPage();
		await stranger.goto(`${app.url}/login`);
		await stranger.getByRole('link', { name: 'Forgot password?' }).click();
		await stranger.waitForURL('**/forgot-password');
		await stranger.getByLabel('Email').fill(email);
		await stranger.getByRole('button', { name: 'Send reset link' }).click();
		await stranger.getByText('Check your inbox').waitFor();
		await stranger.screenshot({ path: screenshotPath('reset-01-sent'), fullPage: true });

		await stranger.goto(linkTo(await mail.waitFor(email, /Reset your/), '/reset-password').href);
		await stranger.getByLabel('New password', { exact: true }).fill('a brand new password');
		await stranger.getByLabel('Repeat the new password').fill('a brand new password');
		await stranger.screenshot({ path: screenshotPath('reset-02-new-password'), fullPage: true });
		await stranger.getByRole('button', { name: 'Set new password' }).click();
		await stranger.waitForURL('**/login?reset=1');
		await expect(stranger.getByRole('status').textContent()).resolves.toContain(
			'every session was signed out'
		);

		// Both earlier sessions are gone.
		for (const signedIn of [page, other]) {
			await signedIn.goto(`${app.url}/dashboard`);
			await signedIn.waitForURL('**/login?redirectTo=*');
		}
		await signIn(stranger, email, 'a brand new password');
		await stranger.waitForURL('**/dashboard');
		await stranger.context().close();
	});
});
