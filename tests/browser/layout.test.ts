import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { launchChromium } from '../helpers/browser';
import { grantAdminRole } from '../helpers/users';

const PASSWORD = 'analytical engine';
const CHAT_PATH = /\/dashboard\/chat\/[\w-]{1,64}$/;
const PHONE = { width: 375, height: 740 };
const LONG_URL = `https://example.com/${'a1b2c3d4e5'.repeat(30)}?q=${'x'.repeat(80)}`;

/** Layout regressions from issue 12: blank scroll, the phone header, long strings. */
describe('layout in a real browser', () => {
	let app: AppServer;
	let browser: Browser;
	let chatUrl = '';

	beforeAll(async () => {
		[app, browser] = await Promise.all([
			startAppServer({ DEMO_MODEL_DELAY_MS: '1', SIGNUP_BONUS_CREDITS: '40' }),
			launchChromium()
		]);
	});
	afterAll(async () => {
		await browser?.close();
		await app?.stop();
	});

	async function newPage(options: BrowserContextOptions = {}): Promise<Page> {
		const context = await browser.newContext({
			viewport: { width: 1280, height: 800 },
			...options
		});
		return context.newPage();
	}

	async function hydrated(page: Page) {
		await page.waitForLoadState('networkidle');
		await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
	}

	async function signUp(page: Page, email: string) {
		await page.goto(`${app.url}/signup`);
		await page.getByLabel('Name').fill('Grace Hopper');
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL('**/dashboard');
	}

	async function signIn(page: Page, email: string) {
		await page.goto(`${app.url}/login`);
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Sign in' }).click();
		await page.waitForURL('**/dashboard');
	}

	/** Sends a message and waits for its reply to finish (the nth Regenerate-able reply). */
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

	const overflowX = (page: Page) =>
		page.evaluate(
			() => document.documentElement.scrollWidth - document.documentElement.clientWidth
		);
	const pageHeight = (page: Page) => page.evaluate(() => document.documentElement.scrollHeight);

	it('a chat with several replies does not make the page taller than the window', async () => {
		const page = await newPage();
		await signUp(page, 'grace@example.com');
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		await send(page, 'First question');
		await page.waitForURL(CHAT_PATH);
		chatUrl = page.url();
		await send(page, 'Second question');
		await send(page, `Third, with a long link: ${LONG_URL}`);
		await expect(page.locator('[data-role="assistant"]').count()).resolves.toBe(3);

		for (const viewport of [{ width: 1280, height: 800 }, PHONE]) {
			await page.setViewportSize(viewport);
			await page.goto(chatUrl);
			await hydrated(page);
			await page.getByTestId('receipt').first().waitFor();
			const height = await pageHeight(page);
			expect(height, `page height at ${viewport.width} px`).toBeLessThanOrEqual(
				viewport.height + 2
			);
			await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
			await expect(page.evaluate(() => window.scrollY)).resolves.toBeLessThanOrEqual(2);
		}
		await page.context().close();
	});

	it('wraps a long unbroken URL in a user bubble: nothing clipped, no sideways scroll', async () => {
		for (const viewport of [{ width: 1280, height: 800 }, PHONE]) {
			const page = await newPage({ viewport });
			await signIn(page, 'grace@example.com');
			await page.goto(chatUrl);
			await hydrated(page);
			const bubble = page.locator('[data-role="user"] > div', { hasText: 'long link' });
			await bubble.waitFor();
			const sizes = await bubble.evaluate((el) => ({
				scroll: el.scrollWidth,
				client: el.clientWidth,
				right: el.getBoundingClientRect().right
			}));
			expect(sizes.scroll, 'the bubble is not clipped').toBeLessThanOrEqual(sizes.client);
			expect(sizes.right).toBeLessThanOrEqual(viewport.width);
			const list = await page
				.getByTestId('message-list')
				.evaluate((el) => el.scrollWidth - el.clientWidth);
			expect(list, `message list at ${viewport.width} px`).toBeLessThanOrEqual(0);
			expect(await overflowX(page)).toBeLessThanOrEqual(0);
			await page.context().close();
		}
	});

	it('at 375 px a menu button holds every section, and closes on navigation and Esc', async () => {
		const page = await newPage({ viewport: PHONE });
		await signUp(page, 'admin@example.com');
		await grantAdminRole(app.databaseUrl, 'admin@example.com');
		await page.goto(`${app.url}/dashboard/credits`);
		await hydrated(page);
		expect(await overflowX(page)).toBeLessThanOrEqual(0);
		// The desktop strip is gone; nothing in the header is cut.
		await expect(page.getByRole('navigation', { name: 'Main' }).isVisible()).resolves.toBe(false);
		const toggle = page.getByRole('button', { name: 'Menu', exact: true });
		await expect(toggle.getAttribute('aria-expanded')).resolves.toBe('false');

		const sections = [
			['Chat', /\/dashboard\/chat$/],
			['Credits', /\/dashboard\/credits$/],
			['Buy credits', /\/dashboard\/buy$/],
			['Admin', /\/admin$/],
			['Settings', /\/dashboard\/settings$/]
		] as const;
		for (const [name, url] of sections) {
			await toggle.click();
			await expect(toggle.getAttribute('aria-expanded')).resolves.toBe('true');
			const menu = page.getByRole('navigation', { name: 'Menu' });
			const link = menu.getByRole('link', { name, exact: true });
			const box = await link.boundingBox();
			expect(box, name).not.toBeNull();
			expect(box!.x + box!.width, name).toBeLessThanOrEqual(PHONE.width);
			await link.click();
			await page.waitForURL(url);
			await menu.waitFor({ state: 'detached' });
			await expect(toggle.getAttribute('aria-expanded')).resolves.toBe('false');
			expect(await overflowX(page), name).toBeLessThanOrEqual(0);
		}

		await toggle.click();
		await page.getByRole('navigation', { name: 'Menu' }).waitFor();
		await page.keyboard.press('Escape');
		await page.getByRole('navigation', { name: 'Menu' }).waitFor({ state: 'detached' });
		await expect(toggle.getAttribute('aria-expanded')).resolves.toBe('false');
		await page.context().close();
	});

	it('a plain user has no Admin in the menu; desktop keeps the header links', async () => {
		const page = await newPage({ viewport: PHONE });
		await signIn(page, 'grace@example.com');
		await hydrated(page);
		await page.getByRole('button', { name: 'Menu', exact: true }).click();
		const menu = page.getByRole('navigation', { name: 'Menu' });
		await menu.getByRole('link', { name: 'Settings' }).waitFor();
		await expect(menu.getByRole('link', { name: 'Admin' }).count()).resolves.toBe(0);

		await page.setViewportSize({ width: 1280, height: 800 });
		await page.getByRole('navigation', { name: 'Menu' }).waitFor({ state: 'hidden' });
		await expect(page.getByRole('button', { name: 'Menu', exact: true }).isVisible()).resolves.toBe(
			false
		);
		const main = page.getByRole('navigation', { name: 'Main' });
		for (const name of ['Chat', 'Credits', 'Buy credits']) {
			await expect(main.getByRole('link', { name, exact: true }).isVisible(), name).resolves.toBe(
				true
			);
		}
		await page.context().close();
	});
});
