import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { launchChromium, screenshotPath } from '../helpers/browser';
import { grantAdminRole } from '../helpers/users';

const PASSWORD = 'analytical engine';
const USER = 'grace@example.com';
const ADMIN = 'admin@example.com';
const CHAT_PATH = /\/dashboard\/chat\/[\w-]{1,64}$/;

const VARIANTS = [
	{ name: 'desktop-light', viewport: { width: 1280, height: 800 }, colorScheme: 'light' },
	{ name: 'desktop-dark', viewport: { width: 1280, height: 800 }, colorScheme: 'dark' },
	{ name: 'mobile-light', viewport: { width: 375, height: 800 }, colorScheme: 'light' },
	{ name: 'mobile-dark', viewport: { width: 375, height: 800 }, colorScheme: 'dark' }
] as const;

type Session = BrowserContextOptions['storageState'];

/**
 * Screenshots of every page, desktop (1280 px) and phone (375 px), light and dark, in
 * test-results/screenshots/page-<name>-<variant>.png: signed out, as a user with a chat and a
 * history, and as an admin. Each page is also checked for sideways scrolling.
 */
describe('screenshots of every page', () => {
	let app: AppServer;
	let browser: Browser;
	let user: Session;
	let admin: Session;
	let chatPath = '';
	let userId = '';

	beforeAll(async () => {
		[app, browser] = await Promise.all([
			startAppServer({
				DEMO_MODEL_DELAY_MS: '1',
				POLAR_TEST_MODE: 'true',
				SWEEP_INTERVAL_SECONDS: '0'
			}),
			launchChromium()
		]);
	});
	afterAll(async () => {
		await browser?.close();
		await app?.stop();
	});

	async function hydrated(page: Page) {
		await page.waitForLoadState('networkidle');
		await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
	}

	async function signUp(page: Page, name: string, email: string) {
		await page.goto(`${app.url}/signup`);
		await page.getByLabel('Name').fill(name);
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL('**/dashboard');
	}

	async function send(page: Page, text: string) {
		const replies = await page.locator('[data-role="assistant"]').count();
		const message = page.getByLabel('Message');
		await message.fill(text);
		await message.press('Enter');
		await page.waitForFunction(
			(n) =>
				document.querySelectorAll('[data-role="assistant"]').length > n &&
				!document.querySelector('[data-streaming]') &&
				!!document.querySelector('button[aria-label="Regenerate"]'),
			replies
		);
	}

	it('prepares a user with a chat, a purchase and a history, and an admin', async () => {
		const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
		const page = await context.newPage();
		await signUp(page, 'Grace Hopper', USER);
		userId = (await (await page.request.get(`${app.url}/api/credits`)).json()).userId;
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		await send(page, 'How do credits work?');
		await page.waitForURL(CHAT_PATH);
		chatPath = new URL(page.url()).pathname;
		await send(page, 'And what happens when I run out?');
		await page.goto(`${app.url}/dashboard/buy`);
		await hydrated(page);
		await page.getByRole('button', { name: 'Buy (test mode)' }).first().click();
		await page.waitForURL(/\/dashboard\/credits/);
		user = await context.storageState();
		await context.close();

		const adminContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
		const adminPage = await adminContext.newPage();
		await signUp(adminPage, 'Ada Admin', ADMIN);
		await grantAdminRole(app.databaseUrl, ADMIN);
		admin = await adminContext.storageState();
		await adminContext.close();
		expect(chatPath).toMatch(CHAT_PATH);
	});

	const publicPages = [
		['home', '/'],
		['login', '/login'],
		['signup', '/signup'],
		['forgot-password', '/forgot-password'],
		['not-found-signed-out', '/no-such-page']
	] as const;
	const userPages = () =>
		[
			['dashboard', '/dashboard'],
			['chat-new', '/dashboard/chat'],
			['chat', chatPath],
			['credits', '/dashboard/credits'],
			['buy', '/dashboard/buy'],
			['settings', '/dashboard/settings'],
			['billing-portal', '/dashboard/billing/portal'],
			['not-found', '/dashboard/no-such-page'],
			['forbidden', '/admin']
		] as const;
	const adminPages = () =>
		[
			['admin', '/admin'],
			['admin-users', '/admin/users'],
			['admin-user', `/admin/users/${userId}`],
			['admin-transactions', '/admin/transactions'],
			['admin-audit', '/admin/audit'],
			['admin-webhooks', '/admin/webhooks']
		] as const;

	for (const variant of VARIANTS) {
		it(`every page, ${variant.name}`, async () => {
			const sets: [Session | undefined, readonly (readonly [string, string])[]][] = [
				[undefined, publicPages],
				[user, userPages()],
				[admin, adminPages()]
			];
			let shots = 0;
			for (const [storageState, pages] of sets) {
				const context = await browser.newContext({
					viewport: variant.viewport,
					colorScheme: variant.colorScheme,
					storageState
				});
				const page = await context.newPage();
				for (const [name, path] of pages) {
					await page.goto(`${app.url}${path}`);
					await hydrated(page);
					await expect(
						page.evaluate(() => document.documentElement.classList.contains('dark'))
					).resolves.toBe(variant.colorScheme === 'dark');
					// The chat scrolls inside its list: show its end, as a reader would.
					if (name === 'chat') await page.getByTestId('receipt').last().waitFor();
					const overflow = await page.evaluate(
						() => document.documentElement.scrollWidth - document.documentElement.clientWidth
					);
					expect(overflow, `${name} scrolls sideways at ${variant.name}`).toBeLessThanOrEqual(0);
					await page.screenshot({
						path: screenshotPath(`page-${name}-${variant.name}`),
						fullPage: true
					});
					shots++;
				}
				await context.close();
			}
			expect(shots).toBe(publicPages.length + userPages().length + adminPages().length);
		});
	}
});
