import postgres from 'postgres';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grant } from '../../src/lib/server/credits';
import { openDatabase, type Database } from '../../src/lib/server/db/client';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { launchChromium, screenshotPath } from '../helpers/browser';

describe('plan credits on the credits dashboard, in a real browser', () => {
	let app: AppServer;
	let browser: Browser;
	let sql: postgres.Sql;
	let database: Database;

	beforeAll(async () => {
		[app, browser] = await Promise.all([
			startAppServer({ SIGNUP_BONUS_CREDITS: '0', SWEEP_INTERVAL_SECONDS: '0' }),
			launchChromium()
		]);
		sql = postgres(app.databaseUrl, { max: 1, onnotice: () => {} });
		database = openDatabase({ url: app.databaseUrl, dataDir: null, maxConnections: 2 });
	});
	afterAll(async () => {
		await database?.close();
		await sql?.end();
		await browser?.close();
		await app?.stop();
	});

	async function hydrated(page: Page) {
		await page.waitForLoadState('networkidle');
		await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
	}

	it('labels bonus packages and rows "+N bonus" and shows the allocation schedule', async () => {
		const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
		const page = await context.newPage();
		await page.goto(`${app.url}/signup`);
		await page.getByLabel('Name').fill('Ada Lovelace');
		await page.getByLabel('Email').fill('plans-dashboard@example.com');
		await page.getByLabel('Password').fill('difference engine');
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL('**/dashboard');
		const { userId } = await (await page.request.get(`${app.url}/api/credits`)).json();

		// A pack bought with its bonus, as the billing webhook grants it.
		await grant(database.db, {
			userId,
			source: 'purchase',
			name: '5,000 credits',
			credits: 5000,
			expiresAt: null,
			key: `order:${userId}`,
			bonus: { credits: 500, name: 'Bonus: 5,000 credits' }
		});
		// A yearly plan four months in, and a lifetime plan's schedule; a refunded one stopped.
		const next = new Date('2027-02-01T00:00:00Z');
		await sql`insert into credit_allocation (user_id, name, credits, months, months_granted,
			starts_at, next_at, polar_order_id, created_at)
			values
			(${userId}, 'Pro Yearly', 3000, 12, 4, '2026-10-01T00:00:00Z', ${next}, 'order_yearly', now()),
			(${userId}, 'Lifetime', 5000, 1200, 2, '2026-11-01T00:00:00Z', '2027-01-01T00:00:00Z',
				'order_lifetime', now() - interval '1 day')`;
		await sql`insert into credit_allocation (user_id, name, credits, months, months_granted,
			starts_at, next_at, stopped_at, polar_order_id, created_at)
			values (${userId}, 'Old yearly', 1000, 12, 3, '2026-08-01T00:00:00Z',
			'2026-11-01T00:00:00Z', now(), 'order_refunded', now() - interval '2 days')`;

		await page.goto(`${app.url}/dashboard/credits`);
		await hydrated(page);
		const allocations = page.getByTestId('allocation');
		await expect(allocations.allTextContents()).resolves.toEqual([
			expect.stringContaining(
				'3,000 credits a month · 4 of 12 granted · next allocation on 1 Feb 2027'
			),
			expect.stringContaining(
				'5,000 credits a month · 2 granted so far · next allocation on 1 Jan 2027'
			),
			expect.stringContaining('1,000 credits a month · 3 of 12 granted · stopped')
		]);

		const bonusPackage = page.getByTestId('package').filter({ hasText: 'Bonus: 5,000 credits' });
		await expect(bonusPackage.getByTestId('package-bonus').textContent()).resolves.toBe(
			'+500 bonus'
		);
		await expect(bonusPackage.textContent()).resolves.toContain('Bonus ·');
		const paidPackage = page
			.getByTestId('package')
			.filter({ has: page.getByText('5,000 credits', { exact: true }) });
		await expect(paidPackage.getByTestId('package-bonus').count()).resolves.toBe(0);

		const bonusRow = page.locator('[data-testid="history-row"][data-type="bonus"]');
		await expect(bonusRow.getByTestId('history-bonus').textContent()).resolves.toBe('+500 bonus');
		await expect(
			page
				.locator('[data-testid="history-row"][data-type="purchase"]')
				.getByTestId('history-bonus')
				.count()
		).resolves.toBe(0);
		await page.screenshot({ path: screenshotPath('shop-credits-01-plans'), fullPage: true });
		await context.close();
	});
});
