import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { grant, reserve, settle } from '../../src/lib/server/credits';
import { openDatabase, type Database } from '../../src/lib/server/db/client';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { launchChromium, screenshotPath } from '../helpers/browser';

const PASSWORD = 'difference engine';
const DAY = 86_400_000;

describe('the credits dashboard in a real browser', () => {
	let app: AppServer;
	let bare: AppServer;
	let browser: Browser;
	let database: Database;
	let keys = 0;

	beforeAll(async () => {
		[app, bare, browser] = await Promise.all([
			startAppServer({ SWEEP_INTERVAL_SECONDS: '0' }),
			startAppServer({ SWEEP_INTERVAL_SECONDS: '0', SIGNUP_BONUS_CREDITS: '0' }),
			launchChromium()
		]);
		database = openDatabase({ url: app.databaseUrl, dataDir: null, maxConnections: 2 });
	});
	afterAll(async () => {
		await database?.close();
		await browser?.close();
		await Promise.all([app?.stop(), bare?.stop()]);
	});

	async function newPage(options: BrowserContextOptions = {}): Promise<Page> {
		const context = await browser.newContext({
			viewport: { width: 1280, height: 900 },
			...options
		});
		return context.newPage();
	}

	/** Signs up through the form and returns the new user's id. */
	async function signUp(page: Page, server: AppServer, email: string): Promise<string> {
		await page.goto(`${server.url}/signup`);
		await page.getByLabel('Name').fill('Ada Lovelace');
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL('**/dashboard');
		const session = await (await page.request.get(`${server.url}/api/credits`)).json();
		return session.userId;
	}

	async function hydrated(page: Page) {
		await page.waitForLoadState('networkidle');
		await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
	}

	async function buy(userId: string, name: string, credits: number, expiresInDays: number | null) {
		const now = new Date();
		await grant(database.db, {
			userId,
			source: 'purchase',
			name,
			credits,
			expiresAt: expiresInDays ? new Date(now.getTime() + expiresInDays * DAY) : null,
			key: `buy:${userId}:${++keys}`,
			now
		});
	}

	async function reply(userId: string, cost: number, model: string, chatId: string) {
		const hold = await reserve(database.db, { userId, upTo: cost, key: `reply:${++keys}` });
		await settle(database.db, {
			holdId: hold.holdId,
			cost,
			description: `Reply in “${chatId}”`,
			metadata: {
				model,
				inputTokens: 1500,
				outputTokens: 500,
				totalTokens: 2000,
				chatId,
				messageId: 'm',
				aborted: false
			}
		});
	}

	async function fillHistory(userId: string) {
		await buy(userId, 'Starter pack', 500, 10);
		await buy(userId, 'Forever pack', 1000, null);
		await reply(userId, 12, 'gpt-4o-mini', 'chat-trip');
		await reply(userId, 30, 'gpt-4o', 'chat-code');
		await reply(userId, 5, 'gpt-4o-mini', 'chat-trip');
	}

	const text = async (page: Page, testId: string) =>
		((await page.getByTestId(testId).textContent()) ?? '').replace(/\s+/g, ' ').trim();

	it('shows balance, expiry, packages, usage and history, and filters the history', async () => {
		const page = await newPage();
		const userId = await signUp(page, app, 'ada@example.com');
		await fillHistory(userId);
		await page.goto(`${app.url}/dashboard/credits`);
		await hydrated(page);

		expect(await text(page, 'available')).toBe('1,461');
		expect(await text(page, 'total')).toBe('1,461');
		expect(await text(page, 'reserved')).toBe('0');
		// Replies take from the pack that expires first (10 days): 500 - 47 left of it.
		expect(await text(page, 'next-expiry')).toMatch(/^453 credits expire on \d{1,2} \w{3} \d{4}$/);
		await expect(
			page.getByRole('link', { name: 'Buy credits' }).last().getAttribute('href')
		).resolves.toBe('/dashboard/buy');
		// No Polar here (test mode): there is no customer portal to manage.
		await expect(page.getByRole('link', { name: 'Manage billing' }).count()).resolves.toBe(0);
		const statuses = await page
			.getByTestId('package')
			.evaluateAll((els) => els.map((el) => el.getAttribute('data-status')));
		expect(statuses).toEqual(['active', 'active', 'active']);
		await expect(
			page
				.getByRole('progressbar', { name: 'Starter pack: credits left' })
				.getAttribute('aria-valuenow')
		).resolves.toBe('453');
		expect(await text(page, 'usage-total')).toBe('47');
		await expect(
			page.getByRole('img', { name: /Bar chart: 47 credits spent/ }).count()
		).resolves.toBe(1);

		const rows = page.getByTestId('history-row');
		await expect(rows.count()).resolves.toBe(6);
		await expect(page.getByRole('columnheader', { name: 'Balance after' }).count()).resolves.toBe(
			1
		);
		// These replies name chats that do not exist (as after deleting them): no link to a 404.
		await expect(page.getByRole('link', { name: 'Open chat' }).count()).resolves.toBe(0);
		await expect(rows.first().getByTestId('chat-deleted').count()).resolves.toBe(1);
		await expect(rows.first().getByTestId('amount').textContent()).resolves.toContain('−5');
		await page.screenshot({ path: screenshotPath('credits-01-dashboard'), fullPage: true });

		await page.getByLabel('Type').selectOption('usage');
		await page.getByRole('button', { name: 'Apply' }).click();
		await page.waitForURL((url) => url.searchParams.get('type') === 'usage');
		await page.waitForFunction(
			() => document.querySelectorAll('[data-testid="history-row"]').length === 3
		);
		const types = await rows.evaluateAll((els) => els.map((el) => el.getAttribute('data-type')));
		expect(types).toEqual(['usage', 'usage', 'usage']);
		await expect(page.getByRole('link', { name: 'Export CSV' }).getAttribute('href')).resolves.toBe(
			'/dashboard/credits/export?type=usage'
		);

		await page.getByLabel('Type').selectOption('refund');
		await page.getByRole('button', { name: 'Apply' }).click();
		await page.getByTestId('history-empty').waitFor();
		expect(await text(page, 'history-empty')).toContain('No transactions match this filter.');
	});

	it('shows a new account its empty states', async () => {
		const page = await newPage();
		await signUp(page, bare, 'empty@example.com');
		await page.goto(`${bare.url}/dashboard/credits`);
		await hydrated(page);
		expect(await text(page, 'available')).toBe('0');
		await expect(page.getByTestId('next-expiry').count()).resolves.toBe(0);
		expect(await text(page, 'packages-empty')).toContain('No credit packages yet.');
		expect(await text(page, 'usage-empty')).toContain('No replies in the last 30 days.');
		expect(await text(page, 'history-empty')).toContain('No transactions yet.');
		await page.screenshot({ path: screenshotPath('credits-02-empty'), fullPage: true });
	});

	it('fits a 375 px phone in dark mode without sideways scrolling of the page', async () => {
		const page = await newPage({
			viewport: { width: 375, height: 812 },
			colorScheme: 'dark',
			isMobile: true,
			hasTouch: true
		});
		const userId = await signUp(page, app, 'phone@example.com');
		await fillHistory(userId);
		await page.goto(`${app.url}/dashboard/credits`);
		await hydrated(page);
		await expect(
			page.evaluate(() => document.documentElement.classList.contains('dark'))
		).resolves.toBe(true);
		const background = await page.evaluate(
			() => getComputedStyle(document.documentElement).backgroundColor
		);
		expect(background).not.toBe('rgb(250, 250, 250)');
		await expect(
			page.evaluate(() => document.documentElement.scrollWidth)
		).resolves.toBeLessThanOrEqual(375);
		const card = await page.getByTestId('balance-card').boundingBox();
		expect(card!.width).toBeLessThanOrEqual(375);
		await page.screenshot({ path: screenshotPath('credits-03-mobile-dark'), fullPage: true });
	});

	it('after a checkout, waits for the credits and then says they arrived', async () => {
		const page = await newPage();
		const userId = await signUp(page, app, 'buyer@example.com');
		await page.goto(`${app.url}/dashboard/credits?checkout=success`);
		await hydrated(page);
		const status = page.getByTestId('checkout-status');
		await expect(status.textContent()).resolves.toContain(
			'Payment received — your credits arrive in a moment'
		);
		await page.screenshot({ path: screenshotPath('credits-04-checkout-waiting') });

		await buy(userId, 'Pack of 1,000', 1000, null); // what the webhook does when the order is paid
		await page.locator('[data-testid="checkout-status"] [data-state="arrived"]').waitFor();
		await expect(status.textContent()).resolves.toContain('Pack of 1,000: +1,000 credits');
		expect(await text(page, 'available')).toBe('1,008');
		expect(await text(page, 'credit-badge')).toContain('1,008');
		await page.screenshot({ path: screenshotPath('credits-05-checkout-arrived') });
	});
});
