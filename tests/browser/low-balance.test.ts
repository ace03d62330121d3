import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AxeResults } from 'axe-core';
import postgres from 'postgres';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { launchChromium, screenshotPath } from '../helpers/browser';

const AXE_SOURCE = readFileSync(
	createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
	'utf8'
);

describe('the low-balance alert in a real browser', () => {
	let app: AppServer;
	let browser: Browser;
	let sql: postgres.Sql;

	beforeAll(async () => {
		[app, browser] = await Promise.all([
			startAppServer({
				DEMO_MODEL_DELAY_MS: '1',
				SIGNUP_BONUS_CREDITS: '8',
				SWEEP_INTERVAL_SECONDS: '0'
			}),
			launchChromium()
		]);
		sql = postgres(app.databaseUrl, { max: 1, onnotice: () => {} });
	});
	afterAll(async () => {
		await sql?.end();
		await browser?.close();
		await app?.stop();
	});

	async function hydrated(page: Page) {
		await page.waitForLoadState('networkidle');
		await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
	}

	async function seriousViolations(page: Page): Promise<string[]> {
		await page.evaluate(AXE_SOURCE);
		const results = await page.evaluate(() =>
			(window as unknown as { axe: { run(): Promise<AxeResults> } }).axe.run()
		);
		return results.violations
			.filter((v) => v.impact === 'serious' || v.impact === 'critical')
			.flatMap((v) => v.nodes.map((node) => `${v.id} ${node.target.join(' ')}: ${v.help}`));
	}

	it('is set in settings, appears when a reply crosses it, and goes away when dismissed', async () => {
		const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
		const page = await context.newPage();
		await page.goto(`${app.url}/signup`);
		await page.getByLabel('Name').fill('Ada Lovelace');
		await page.getByLabel('Email').fill('low-balance@example.com');
		await page.getByLabel('Password').fill('difference engine');
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL('**/dashboard');
		const { userId } = await (await page.request.get(`${app.url}/api/credits`)).json();

		await page.goto(`${app.url}/dashboard/settings`);
		await hydrated(page);
		const section = page.getByRole('region', { name: 'Low-balance alert' });
		const field = section.getByLabel('Warn me below (credits)');
		await field.fill('lots');
		await section.getByRole('button', { name: 'Save alert' }).click();
		await section.getByText('Enter a whole number of credits from 1 to 1,000,000.').waitFor();
		await expect(field.getAttribute('aria-invalid')).resolves.toBe('true');
		// What was typed stays, so it can be corrected.
		await expect(field.inputValue()).resolves.toBe('lots');
		const [none] = await sql`select count(*)::int as n from credit_alert where user_id = ${userId}`;
		expect(none.n).toBe(0);

		await field.fill('8');
		await section.getByRole('button', { name: 'Save alert' }).click();
		await section.getByText('We will tell you when your available credits fall below 8.').waitFor();
		await expect(section.getByRole('button', { name: 'Turn off' }).isVisible()).resolves.toBe(true);
		await expect(page.getByTestId('low-balance-notice').count()).resolves.toBe(0);

		// A reply costs at least a credit: 8 available becomes fewer than 8.
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		await page.getByLabel('Message').fill('Will this cross my alert?');
		await page.getByLabel('Message').press('Enter');
		await page.getByTestId('receipt').first().waitFor();
		const notice = page.getByTestId('low-balance-notice');
		await notice.waitFor();
		const [row] = await sql`select fired_available from credit_alert where user_id = ${userId}`;
		expect(row.fired_available).toBeLessThan(8);
		await expect(notice.textContent()).resolves.toContain(
			`${row.fired_available} credits left, below your alert at 8`
		);
		await expect(
			notice.getByRole('link', { name: 'See plans' }).getAttribute('href')
		).resolves.toBe('/dashboard/buy#plans');
		await expect(seriousViolations(page)).resolves.toEqual([]);
		await page.screenshot({ path: screenshotPath('low-balance-01-notice'), fullPage: true });

		// It stays on every app page until dismissed.
		await page.goto(`${app.url}/dashboard/credits`);
		await hydrated(page);
		await notice.waitFor();
		await notice.getByRole('button', { name: 'Dismiss' }).click();
		await notice.waitFor({ state: 'detached' });
		await page.reload();
		await hydrated(page);
		await expect(page.getByTestId('low-balance-notice').count()).resolves.toBe(0);

		// Turning it off removes the threshold.
		await page.goto(`${app.url}/dashboard/settings`);
		await hydrated(page);
		await section.getByRole('button', { name: 'Turn off' }).click();
		await section.getByText('The low-balance alert is off.').waitFor();
		await expect(field.inputValue()).resolves.toBe('');
		const [gone] = await sql`select count(*)::int as n from credit_alert where user_id = ${userId}`;
		expect(gone.n).toBe(0);
		await context.close();
	});
});
