import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { adjust, grant } from '../../src/lib/server/credits';
import { openDatabase, type Database } from '../../src/lib/server/db/client';
import { chat } from '../../src/lib/server/db/schema';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { launchChromium } from '../helpers/browser';

const PASSWORD = 'analytical engine';
const CHAT_PATH = /\/dashboard\/chat\/[\w-]{1,64}$/;
const HOUR = 3_600_000;
const LIMIT = 2000;

/** The small things of issue 12: words, links, counters, pages and the credits history. */
describe('minor fixes in a real browser', () => {
	let app: AppServer;
	let browser: Browser;
	let database: Database;
	let keys = 0;

	beforeAll(async () => {
		[app, browser] = await Promise.all([
			startAppServer({
				DEMO_MODEL_DELAY_MS: '1',
				SIGNUP_BONUS_CREDITS: '40',
				CHAT_MAX_INPUT_CHARS: String(LIMIT),
				SWEEP_INTERVAL_SECONDS: '0'
			}),
			launchChromium()
		]);
		database = openDatabase({ url: app.databaseUrl, dataDir: null, maxConnections: 2 });
	});
	afterAll(async () => {
		await database?.close();
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

	/** Signs up through the form and returns the new user's id. */
	async function signUp(page: Page, email: string): Promise<string> {
		await page.goto(`${app.url}/signup`);
		await page.getByLabel('Name').fill('Ada Lovelace');
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL('**/dashboard');
		return (await (await page.request.get(`${app.url}/api/credits`)).json()).userId;
	}

	async function signIn(page: Page, email: string) {
		await page.goto(`${app.url}/login`);
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Sign in' }).click();
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

	const setCredits = (userId: string, credits: number) =>
		adjust(database.db, {
			userId,
			mode: 'set',
			credits,
			reason: 'test',
			actor: 'cli',
			key: `set:${++keys}`
		});

	it('counts characters from 90 % of the limit and refuses to send past it', async () => {
		const page = await newPage();
		await signUp(page, 'counter@example.com');
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		const message = page.getByLabel('Message');
		const counter = page.getByTestId('char-count');
		await message.fill('x'.repeat(1000));
		await expect(counter.count()).resolves.toBe(0);

		await message.fill('x'.repeat(1850));
		await expect(counter.textContent()).resolves.toContain('1,850 / 2,000');
		await expect(page.getByRole('button', { name: 'Send' }).isEnabled()).resolves.toBe(true);

		await message.fill('x'.repeat(2050));
		await expect(counter.textContent()).resolves.toMatch(
			/2,050 \/ 2,000\s+— 50 characters over the limit; shorten the message to send it\./
		);
		await expect(page.getByRole('button', { name: 'Send' }).isDisabled()).resolves.toBe(true);
		await message.press('Enter');
		await page.waitForTimeout(300);
		await expect(page.locator('[data-role="user"]').count()).resolves.toBe(0);
		await expect(message.inputValue()).resolves.toHaveLength(2050);
		await page.context().close();
	});

	it('keeps a draft across a reload and across signing in again after a sign-out elsewhere', async () => {
		const page = await newPage();
		await signIn(page, 'counter@example.com');
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		await send(page, 'A first question');
		await page.waitForURL(CHAT_PATH);
		const chatUrl = page.url();

		const message = page.getByLabel('Message');
		await message.fill('Half-written thought');
		await page.reload();
		await hydrated(page);
		await expect(message.inputValue()).resolves.toBe('Half-written thought');

		// Signed out elsewhere: the session cookie is gone, the question is refused with 401.
		await message.fill('An important question');
		await page.context().clearCookies();
		await message.press('Enter');
		// The page notices the ended session and asks to sign in again, coming back afterwards.
		await page.waitForURL(/\/login\?redirectTo=/);
		await page.getByLabel('Email').fill('counter@example.com');
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Sign in' }).click();
		await page.waitForURL(chatUrl);
		await hydrated(page);
		await expect(message.inputValue()).resolves.toBe('An important question');

		// Sent and stored: the draft is gone after a reload.
		await send(page, 'An important question');
		await page.reload();
		await hydrated(page);
		await expect(message.inputValue()).resolves.toBe('');
		await page.context().close();
	});

	it('says "1 credit", and a refused long chat offers a new chat as a link', async () => {
		const page = await newPage();
		const userId = await signUp(page, 'one@example.com');
		await setCredits(userId, 1);
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		const badge = page.getByTestId('credit-badge');
		await expect(badge.textContent()).resolves.toMatch(/^\s*1\s+credit\s*$/);
		await expect(badge.getAttribute('title')).resolves.toBe('1 credit available');
		// 1 available: no "out of credits" banner while the badge says 1.
		await expect(page.getByTestId('out-of-credits').count()).resolves.toBe(0);

		// The server refuses a reply this long a chat cannot afford (as reply.ts words it).
		await page.route('**/api/chat', (route) =>
			route.fulfill({
				status: 402,
				contentType: 'application/json',
				body: JSON.stringify({
					error: {
						code: 'insufficient_credits',
						message:
							'Your credits cannot pay for a reply to this conversation. Start a new chat or buy credits.'
					}
				})
			})
		);
		const message = page.getByLabel('Message');
		await message.fill('Hello');
		await message.press('Enter');
		const error = page.getByTestId('chat-error');
		await error.waitFor();
		await expect(error.textContent()).resolves.toContain('Not enough credits for this reply');
		await expect(error.textContent()).resolves.not.toContain("You're out of credits");
		await expect(
			error.getByRole('link', { name: 'Start a new chat' }).getAttribute('href')
		).resolves.toBe('/dashboard/chat');
		await expect(
			error.getByRole('link', { name: 'Buy credits' }).getAttribute('href')
		).resolves.toBe('/dashboard/buy');

		await page.unrouteAll();
		await page.route('**/api/chat', (route) =>
			route.fulfill({
				status: 404,
				contentType: 'application/json',
				body: JSON.stringify({
					error: { code: 'chat_not_found', message: 'This chat does not exist.' }
				})
			})
		);
		await message.fill('Hello again');
		await message.press('Enter');
		await error.getByText('This chat does not exist').waitFor();
		await expect(
			error.getByRole('link', { name: 'Start a new chat' }).getAttribute('href')
		).resolves.toBe('/dashboard/chat');
		await page.context().close();
	});

	it('history: model labels, no link to a deleted chat, an unclipped chart, pages with a count', async () => {
		const page = await newPage();
		const userId = await signUp(page, 'history@example.com');
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		await send(page, 'Kept chat');
		await page.waitForURL(CHAT_PATH);
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		await send(page, 'Doomed chat');
		await page.waitForURL(CHAT_PATH);
		const doomedId = page.url().split('/').pop()!;
		const sidebar = page.getByRole('navigation', { name: 'Chats' });
		await sidebar.getByRole('button', { name: 'Delete “Doomed chat”' }).click();
		await sidebar.getByRole('button', { name: 'Delete', exact: true }).click();
		await page.waitForURL('**/dashboard/chat');

		await page.goto(`${app.url}/dashboard/credits`);
		await hydrated(page);
		const usage = page.locator('[data-testid="history-row"][data-type="usage"]');
		await expect(usage.count()).resolves.toBe(2);
		await expect(page.getByTestId('history-model').allTextContents()).resolves.toEqual([
			'Demo (offline)',
			'Demo (offline)'
		]);
		await expect(
			page.getByTestId('history-table').getByText('demo', { exact: true }).count()
		).resolves.toBe(0);
		// The deleted chat's row says so instead of linking to a 404.
		const links = await usage
			.getByRole('link', { name: 'Open chat' })
			.evaluateAll((els) => els.map((el) => el.getAttribute('href')));
		expect(links).toHaveLength(1);
		expect(links[0]).not.toContain(doomedId);
		await expect(usage.getByTestId('chat-deleted').count()).resolves.toBe(1);

		// The chart names the model, and its last date label fits inside the chart.
		const chart = page.getByTestId('usage-chart');
		await expect(chart.getByRole('list', { name: 'Models' }).textContent()).resolves.toContain(
			'Demo (offline)'
		);
		const labels = await chart.locator('svg').evaluate((svg) => {
			const box = svg.getBoundingClientRect();
			return [...svg.querySelectorAll('text')].map((t) => {
				const l = t.getBoundingClientRect();
				return { text: t.textContent?.trim(), left: l.left - box.left, right: box.right - l.right };
			});
		});
		expect(labels.length).toBeGreaterThan(0);
		for (const label of labels) {
			expect(label.left, label.text).toBeGreaterThanOrEqual(-0.5);
			expect(label.right, label.text).toBeGreaterThanOrEqual(-0.5);
		}

		// 30 more rows: two pages, with a count, Older and Newer.
		for (let i = 0; i < 30; i++) {
			await grant(database.db, {
				userId,
				source: 'admin_grant',
				name: `Gift ${i}`,
				credits: 1,
				expiresAt: null,
				key: `gift:${++keys}`
			});
		}
		await page.goto(`${app.url}/dashboard/credits`);
		await hydrated(page);
		const count = page.getByTestId('history-count');
		await expect(count.textContent()).resolves.toMatch(/1–25 of 33 transactions/);
		await expect(page.getByRole('link', { name: '← Newer' }).count()).resolves.toBe(0);
		await page.getByRole('link', { name: 'Older →' }).click();
		await page.waitForURL(/cursor=/);
		await expect(count.textContent()).resolves.toMatch(/26–33 of 33 transactions/);
		await expect(page.getByTestId('history-row').count()).resolves.toBe(8);
		await page.getByRole('link', { name: '← Newer' }).click();
		await page.waitForURL(/before=/);
		await expect(count.textContent()).resolves.toMatch(/1–25 of 33 transactions/);
		await expect(page.getByTestId('history-row').count()).resolves.toBe(25);
		await expect(page.getByRole('link', { name: '← Newer' }).count()).resolves.toBe(0);

		// "To" before "From": both dates stay, the reason is given beside them.
		await page.goto(`${app.url}/dashboard/credits?from=2026-11-20&to=2026-11-10`);
		await hydrated(page);
		await expect(page.getByLabel('From', { exact: true }).inputValue()).resolves.toBe('2026-11-20');
		await expect(page.getByLabel('To', { exact: true }).inputValue()).resolves.toBe('2026-11-10');
		await expect(page.getByLabel('To', { exact: true }).getAttribute('aria-invalid')).resolves.toBe(
			'true'
		);
		await expect(page.getByTestId('filter-error').textContent()).resolves.toContain(
			'To: must not be before From'
		);
		await page.context().close();
	});

	it('history rows are cards at 375 px, not a 44 rem table', async () => {
		const page = await newPage({ viewport: { width: 375, height: 800 } });
		await signIn(page, 'history@example.com');
		await page.goto(`${app.url}/dashboard/credits#history`);
		await hydrated(page);
		const table = page.getByTestId('history-table');
		const width = await table.evaluate((el) => el.getBoundingClientRect().width);
		expect(width).toBeLessThan(375);
		const scroller = await page
			.getByRole('region', { name: 'Transaction history' })
			.evaluate((el) => el.scrollWidth - el.clientWidth);
		expect(scroller).toBeLessThanOrEqual(0);
		await expect(
			page.evaluate(
				() => document.documentElement.scrollWidth - document.documentElement.clientWidth
			)
		).resolves.toBeLessThanOrEqual(0);
		// A card shows its time, amount and balance without a header row.
		const row = page.getByTestId('history-row').first();
		await expect(row.textContent()).resolves.toMatch(/Balance\s+\d/);
		const rowBox = await row.boundingBox();
		expect(rowBox!.width).toBeLessThan(375);
		await page.context().close();
	});

	it('a checkout return long after the purchase says so at once; no Manage billing in test mode', async () => {
		const page = await newPage();
		const userId = await signUp(page, 'old-buyer@example.com');
		await grant(database.db, {
			userId,
			source: 'purchase',
			name: 'Pack of 100',
			credits: 100,
			expiresAt: null,
			key: `old:${++keys}`,
			now: new Date(Date.now() - 3 * HOUR)
		});
		const started = Date.now();
		await page.goto(`${app.url}/dashboard/credits?checkout=success`);
		await page.locator('[data-testid="checkout-status"] [data-state="previous"]').waitFor();
		expect(Date.now() - started).toBeLessThan(10_000);
		await expect(page.getByTestId('checkout-status').textContent()).resolves.toContain(
			'Your latest purchase is already in your balance.'
		);
		await expect(page.getByTestId('checkout-status').textContent()).resolves.toContain(
			'Pack of 100: +100 credits'
		);
		await expect(page.getByRole('link', { name: 'Manage billing' }).count()).resolves.toBe(0);
		await page.goto(`${app.url}/dashboard/buy`);
		await expect(page.getByRole('link', { name: 'Manage billing' }).count()).resolves.toBe(0);
		await page.context().close();
	});

	it('404 and 403 pages keep the app header for a signed-in user', async () => {
		const page = await newPage();
		await signUp(page, 'lost@example.com');
		const missing = await page.goto(`${app.url}/dashboard/no-such-page`);
		expect(missing!.status()).toBe(404);
		await page.getByRole('heading', { name: 'Page not found' }).waitFor();
		await expect(
			page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Chat' }).count()
		).resolves.toBe(1);
		await expect(page.getByRole('button', { name: 'Account menu' }).count()).resolves.toBe(1);

		const refused = await page.goto(`${app.url}/admin`);
		expect(refused!.status()).toBe(403);
		await page.getByRole('heading', { name: 'You do not have access to this page' }).waitFor();
		await expect(page.getByRole('navigation', { name: 'Main' }).count()).resolves.toBe(1);

		// Signed out: the plain page, no header.
		await page.context().clearCookies();
		await page.goto(`${app.url}/no-such-page`);
		await page.getByRole('heading', { name: 'Page not found' }).waitFor();
		await expect(page.getByRole('navigation', { name: 'Main' }).count()).resolves.toBe(0);
		await page.context().close();
	});

	it('the delete confirmation of the last chat in a long sidebar is fully on screen', async () => {
		const page = await newPage({ viewport: { width: 1280, height: 700 } });
		const userId = await signUp(page, 'many@example.com');
		const now = Date.now();
		await database.db.insert(chat).values(
			Array.from({ length: 30 }, (_, i) => ({
				id: `many-chat-${i}`,
				userId,
				title: `Chat number ${i}`,
				model: 'demo',
				updatedAt: new Date(now - i * 60_000)
			}))
		);
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		const sidebar = page.getByRole('navigation', { name: 'Chats' });
		await sidebar.getByRole('button', { name: 'Delete “Chat number 29”' }).click();
		const confirm = sidebar.getByRole('button', { name: 'Delete', exact: true });
		await confirm.waitFor();
		const inView = async (name: string) =>
			sidebar.getByRole('button', { name, exact: true }).evaluate((button) => {
				const box = button.getBoundingClientRect();
				const list = button.closest('[data-testid="chat-list"]')!.getBoundingClientRect();
				return box.top >= list.top && box.bottom <= list.bottom && box.bottom <= window.innerHeight;
			});
		await expect(inView('Delete')).resolves.toBe(true);
		await expect(inView('Cancel')).resolves.toBe(true);
		await page.context().close();
	});

	it('"Sign in instead" after signing up with a taken address is a link', async () => {
		const page = await newPage();
		await page.goto(`${app.url}/signup`);
		await hydrated(page);
		await page.getByLabel('Name').fill('Again');
		await page.getByLabel('Email').fill('history@example.com');
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Create account' }).click();
		const link = page.getByRole('link', { name: 'Sign in instead' });
		await link.waitFor();
		await expect(
			page.getByText('An account with this email already exists.').count()
		).resolves.toBe(1);
		await link.click();
		await page.waitForURL('**/login');
		await page.context().close();
	});
});
