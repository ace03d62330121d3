import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { launchChromium, screenshotPath } from '../helpers/browser';

describe('accounts in a real browser', () => {
	let app: AppServer;
	let browser: Browser;

	beforeAll(async () => {
		[app, browser] = await Promise.all([startAppServer(), launchChromium()]);
	});
	afterAll(async () => {
		await browser?.close();
		await app?.stop();
	});

	async function newPage(width = 1280): Promise<Page> {
		const context = await browser.newContext({ viewport: { width, height: 800 } });
		return context.newPage();
	}

	it('signs up, reaches the dashboard, signs out and signs back in', async () => {
		const page = await newPage();
		await page.goto(`${app.url}/`);
		await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain(
			'metered'
		);
		await page.screenshot({ path: screenshotPath('01-landing'), fullPage: true });

		await page.getByRole('link', { name: 'Sign up' }).click();
		await page.waitForURL('**/signup');
		await page.getByLabel('Name').fill('Ada Lovelace');
		await page.getByLabel('Email').fill('ada@example.com');
		await page.getByLabel('Password').fill('analytical engine');
		await page.screenshot({ path: screenshotPath('02-signup'), fullPage: true });
		await page.getByRole('button', { name: 'Create account' }).click();

		await page.waitForURL('**/dashboard');
		await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
			'Welcome, Ada Lovelace'
		);
		await page.screenshot({ path: screenshotPath('03-dashboard'), fullPage: true });

		await page.getByRole('button', { name: 'Account menu' }).click();
		await page.getByRole('menuitem', { name: 'Sign out' }).click();
		await page.waitForURL('**/login?signedOut=1');
		await expect(page.getByRole('status').textContent()).resolves.toContain('signed out');
		await page.screenshot({ path: screenshotPath('04-signed-out'), fullPage: true });

		await page.getByLabel('Email').fill('ada@example.com');
		await page.getByLabel('Password').fill('analytical engine');
		await page.getByRole('button', { name: 'Sign in' }).click();
		await page.waitForURL('**/dashboard');
		await page.screenshot({ path: screenshotPath('05-signed-in-again'), fullPage: true });
		await page.context().close();
	});

	it('shows inline errors and keeps the typed email', async () => {
		const page = await newPage();
		await page.goto(`${app.url}/signup`);
		await page.getByLabel('Email').fill('not-an-email');
		await page.getByLabel('Password').fill('short');
		await page.getByRole('button', { name: 'Create account' }).click();
		// waitFor() fails the test when the message never appears.
		await page.getByText('Enter a valid email address.').waitFor();
		await page.getByText('Use at least 8 characters').waitFor();
		await expect(page.getByLabel('Email').inputValue()).resolves.toBe('not-an-email');
		await page.screenshot({ path: screenshotPath('06-signup-errors'), fullPage: true });

		await page.goto(`${app.url}/login`);
		await page.getByLabel('Email').fill('ada@example.com');
		await page.getByLabel('Password').fill('wrong password');
		await page.getByRole('button', { name: 'Sign in' }).click();
		await page.getByRole('alert').waitFor();
		await expect(page.getByRole('alert').textContent()).resolves.toContain('do not match');
		await expect(page.getByLabel('Email').inputValue()).resolves.toBe('ada@example.com');
		await page.screenshot({ path: screenshotPath('07-login-error'), fullPage: true });
		await page.context().close();
	});

	it('fits a 375 px wide phone, in dark mode too', async () => {
		const page = await newPage(375);
		await page.goto(`${app.url}/login`);
		await page.getByLabel('Email').fill('ada@example.com');
		await page.getByLabel('Password').fill('analytical engine');
		await page.getByRole('button', { name: 'Sign in' }).click();
		await page.waitForURL('**/dashboard');

		const overflow = await page.evaluate(
			() => document.documentElement.scrollWidth - document.documentElement.clientWidth
		);
		expect(overflow).toBe(0);
		// The sections live behind the Menu button at this width (tests/browser/layout.test.ts).
		await page.getByRole('button', { name: 'Menu', exact: true }).click();
		const nav = page.getByRole('navigation', { name: 'Menu' });
		await nav.getByRole('link', { name: 'Buy credits' }).waitFor();
		await expect(nav.getByRole('link', { name: 'Buy credits' }).isVisible()).resolves.toBe(true);
		await page.keyboard.press('Escape');
		await page.screenshot({ path: screenshotPath('08-dashboard-mobile'), fullPage: true });

		await page.getByRole('button', { name: 'Switch to dark mode' }).click();
		await expect(
			page.evaluate(() => document.documentElement.classList.contains('dark'))
		).resolves.toBe(true);
		await page.reload();
		await expect(
			page.evaluate(() => document.documentElement.classList.contains('dark'))
		).resolves.toBe(true);
		await page.screenshot({ path: screenshotPath('09-dashboard-mobile-dark'), fullPage: true });
		await page.context().close();
	});
});
