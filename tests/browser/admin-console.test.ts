import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { launchChromium, screenshotPath } from '../helpers/browser';
import { grantAdminRole } from '../helpers/users';

const ADMIN = 'boss@example.com';
const CUSTOMER = 'ada.lovelace-4217@example.com';
const REASON = 'Goodwill for the outage on Tuesday';

describe('the admin console, in a real browser', () => {
	let app: AppServer;
	let browser: Browser;

	beforeAll(async () => {
		[app, browser] = await Promise.all([startAppServer(), launchChromium()]);
	});
	afterAll(async () => {
		await browser?.close();
		await app?.stop();
	});

	async function signUp(page: Page, email: string, name: string) {
		await page.goto(`${app.url}/signup`);
		await page.getByLabel('Name').fill(name);
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill('difference engine');
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL('**/dashboard');
	}

	const hydrated = (page: Page) =>
		page.waitForFunction(() => document.body.dataset.hydrated === 'true');

	it('never shows a non-admin the Admin link, and refuses them the pages', async () => {
		const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
		await signUp(page, CUSTOMER, 'Ada Lovelace');
		for (const path of ['/dashboard', '/dashboard/credits', '/dashboard/chat']) {
			await page.goto(`${app.url}${path}`);
			expect(await page.getByRole('link', { name: 'Admin', exact: true }).count(), path).toBe(0);
		}
		const refused = await page.goto(`${app.url}/admin/users`);
		expect(refused?.status()).toBe(403);
		await page.close();
	});

	it('finds a user by part of the email, adds credits with a reason, and sees it everywhere', async () => {
		const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
		await signUp(page, ADMIN, 'The Boss');
		await grantAdminRole(app.databaseUrl, ADMIN);
		await page.reload();
		await page.getByRole('link', { name: 'Admin', exact: true }).first().click();
		await page.waitForURL('**/admin');

		await page.getByRole('link', { name: 'Users', exact: true }).click();
		await page.waitForURL('**/admin/users');
		await hydrated(page);
		await page.getByLabel('Search by email or name').fill('lovelace-42');
		await page.getByRole('button', { name: 'Search' }).click();
		await page.waitForURL('**/admin/users?q=lovelace-42');
		const rows = page.getByRole('region', { name: 'Users' }).locator('tbody tr');
		expect(await rows.count()).toBe(1);
		await page.getByRole('link', { name: CUSTOMER }).click();
		await page.waitForURL(/\/admin\/users\/[^/?]+$/);
		const userPage = page.url();
		await hydrated(page);

		const form = page.getByTestId('adjust-form');
		await form.getByLabel('Action').selectOption('add');
		await form.getByLabel('Credits').fill('25');
		await form.getByLabel(/^Reason/).fill(REASON);
		await form.getByRole('button', { name: 'Review' }).click();
		const confirm = page.getByTestId('adjust-confirm');
		await confirm.waitFor();
		expect(await page.getByTestId('preview-before').textContent()).toBe('8');
		expect(await page.getByTestId('preview-after').textContent()).toBe('33');
		await page.screenshot({ path: screenshotPath('admin-01-adjust-preview'), fullPage: true });
		await confirm.getByRole('button', { name: 'Confirm' }).click();
		await page.getByText('Done: +25 credits, balance now 33.').waitFor();

		// The user's page: the row in the full history.
		await page.goto(userPage);
		const history = page.locator('section[aria-labelledby="history-heading"]');
		await expect.poll(() => history.textContent()).toContain(REASON);

		// The explorer, filtered by the user's email.
		await page.goto(`${app.url}/admin/transactions?user=${encodeURIComponent(CUSTOMER)}`);
		const explorer = page.getByRole('region', { name: 'Transactions' });
		expect(await explorer.textContent()).toContain(REASON);
		expect(await explorer.textContent()).toContain('+25');
		await page.screenshot({ path: screenshotPath('admin-02-explorer'), fullPage: true });

		// The audit log: who, what, on whom, why.
		await page.goto(`${app.url}/admin/audit`);
		const audit = (await page.locator('main').textContent()) ?? '';
		expect(audit).toContain('credits.add');
		expect(audit).toContain(ADMIN);
		expect(audit).toContain(CUSTOMER);
		expect(audit).toContain(REASON);
		await page.close();
	});

	it('is usable at 375 px: no sideways page scroll on the admin pages', async () => {
		const page = await browser.newPage({ viewport: { width: 375, height: 800 } });
		await page.goto(`${app.url}/login`);
		await page.getByLabel('Email').fill(ADMIN);
		await page.getByLabel('Password').fill('difference engine');
		await page.getByRole('button', { name: 'Sign in' }).click();
		await page.waitForURL('**/dashboard');
		for (const path of ['/admin', '/admin/users', '/admin/transactions', '/admin/audit']) {
			await page.goto(`${app.url}${path}`);
			const overflow = await page.evaluate(
				() => document.documentElement.scrollWidth - document.documentElement.clientWidth
			);
			expect(overflow, path).toBeLessThanOrEqual(0);
		}
		await page.goto(`${app.url}/admin/users?q=lovelace`);
		await page.screenshot({ path: screenshotPath('admin-03-users-375'), fullPage: true });
		await page.close();
	});
});
