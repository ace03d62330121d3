import { creditPacks } from '../../config/credit-packs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { launchChromium, screenshotPath } from '../helpers/browser';

describe('buying credits in test mode, in a real browser', () => {
	// No POLAR_ACCESS_TOKEN: "Buy" signs an order.paid locally and runs the real webhook handler.
	let app: AppServer;
	let browser: Browser;

	beforeAll(async () => {
		[app, browser] = await Promise.all([
			startAppServer({ POLAR_TEST_MODE: 'true' }),
			launchChromium()
		]);
	});
	afterAll(async () => {
		await browser?.close();
		await app?.stop();
	});

	async function signUp(page: Page, email: string) {
		await page.goto(`${app.url}/signup`);
		await page.getByLabel('Name').fill('Ada Lovelace');
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill('difference engine');
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL('**/dashboard');
	}

	async function badge(page: Page): Promise<number> {
		const text = (await page.getByTestId('credit-badge').textContent()) ?? '';
		return Number(text.replace(/[^\d]/g, ''));
	}

	it('goes from the buy page to the new package on the credits page', async () => {
		const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
		await signUp(page, 'ada@example.com');
		expect(await badge(page)).toBe(8);

		await page.goto(`${app.url}/dashboard/buy`);
		await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
		await expect.poll(() => page.getByText('Test mode — no payment.').isVisible()).toBe(true);
		// The packs of config/credit-packs.ts (plans are cards of their own, see shop.test.ts).
		const offers = page.getByTestId('offer');
		expect(await offers.count()).toBe(creditPacks.length);
		await page.screenshot({ path: screenshotPath('buy-01-test-mode'), fullPage: true });

		const pack = offers.filter({
			has: page.getByRole('heading', { name: '1,000 credits', exact: true })
		});
		expect(await pack.count()).toBe(1);
		expect(await pack.textContent()).toContain('$5.00');
		await pack.getByRole('button', { name: 'Buy (test mode)' }).click();
		await page.waitForURL('**/dashboard/credits?checkout=success');

		// The webhook ran before the redirect: the page says so at once instead of waiting.
		await page.locator('[data-testid="checkout-status"] [data-state="arrived"]').waitFor();
		expect(await page.getByTestId('checkout-status').textContent()).toContain(
			'1,000 credits: +1,000 credits'
		);
		await expect.poll(() => badge(page)).toBe(1008);
		await page.screenshot({
			path: screenshotPath('buy-02-credits-after-purchase'),
			fullPage: true
		});
	});
});
