import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AxeResults } from 'axe-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContextOptions, Locator, Page } from 'playwright-core';
import { eq } from 'drizzle-orm';
import { openDatabase, type Database } from '../../src/lib/server/db/client';
import { chat, chatMessage } from '../../src/lib/server/db/schema';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { launchChromium, screenshotPath } from '../helpers/browser';
import { createUser } from '../helpers/users';

const PASSWORD = 'analytical engine';
const CHAT_PATH = /\/dashboard\/chat\/[\w-]{1,64}$/;
const DAY = 86_400_000;
const AXE_SOURCE = readFileSync(
	createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
	'utf8'
);

/** Issue 12's sidebar: search chats by title and content; Today / Yesterday / Last 7 days / Older. */
describe('the chat sidebar in a real browser', () => {
	let app: AppServer;
	let browser: Browser;
	let database: Database;
	let storageState: Awaited<ReturnType<ReturnType<Page['context']>['storageState']>>;
	let gardenId: string;
	let userId: string;

	beforeAll(async () => {
		[app, browser] = await Promise.all([
			startAppServer({ DEMO_MODEL_DELAY_MS: '0' }),
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
			viewport: { width: 1280, height: 860 },
			storageState,
			...options
		});
		return context.newPage();
	}

	async function hydrated(page: Page) {
		await page.waitForLoadState('networkidle');
		await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
	}

	const sidebarOf = (page: Page) => page.getByRole('navigation', { name: 'Chats' });

	/** The chat titles listed in the sidebar, top to bottom. */
	const titles = (sidebar: Locator) =>
		sidebar
			.locator('[data-testid="chat-list"] li a[title]')
			.evaluateAll((links) => links.map((link) => link.getAttribute('title')));

	/** The sidebar's group headings, and the titles under each. */
	const groups = (sidebar: Locator) =>
		sidebar
			.locator('section[aria-labelledby]')
			.evaluateAll((sections) =>
				sections.map((section) => [
					section.querySelector('h2')?.textContent?.trim(),
					[...section.querySelectorAll('li a[title]')].map((link) => link.getAttribute('title'))
				])
			);

	it('sets up a user with chats of different days (one through the composer)', async () => {
		const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
		const page = await context.newPage();
		await page.goto(`${app.url}/signup`);
		await page.getByLabel('Name').fill('Ada Lovelace');
		await page.getByLabel('Email').fill('sidebar@example.com');
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL('**/dashboard');
		userId = (await (await page.request.get(`${app.url}/api/credits`)).json()).userId;

		// A chat as users make them: its title is the first line, the tomatoes only in the text.
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		await page.getByLabel('Message').fill('Garden plans\nWhen should I plant the tomatoes?');
		await page.getByLabel('Message').press('Enter');
		await page.waitForURL(CHAT_PATH);
		await page.locator('[data-role="assistant"] [data-testid="assistant-text"]').waitFor();
		await page.getByRole('button', { name: 'Regenerate' }).waitFor();
		gardenId = page.url().split('/').pop()!;

		const now = Date.now();
		await database.db
			.update(chat)
			.set({ updatedAt: new Date(now - DAY) })
			.where(eq(chat.id, gardenId));
		await database.db.insert(chat).values([
			{
				id: 'sb-today',
				userId,
				title: 'Sourdough starter',
				model: 'demo',
				updatedAt: new Date(now)
			},
			{
				id: 'sb-week',
				userId,
				title: 'Tax return 100% done',
				model: 'demo',
				updatedAt: new Date(now - 3 * DAY)
			},
			{
				id: 'sb-old',
				userId,
				title: 'Old trip',
				model: 'demo',
				updatedAt: new Date(now - 40 * DAY)
			}
		]);
		await database.db.insert(chatMessage).values({
			chatId: 'sb-old',
			id: 'sb-old-1',
			userId,
			role: 'user',
			parts: [{ type: 'text', text: 'Three days in Lisbon: where should we eat?' }]
		});
		// Another user's chat about tomatoes never shows up.
		const other = await createUser(database.db, 'other-sidebar@example.com');
		await database.db
			.insert(chat)
			.values({ id: 'sb-other', userId: other, title: 'Tomatoes of someone else', model: 'demo' });
		await database.db.insert(chatMessage).values({
			chatId: 'sb-other',
			id: 'sb-other-1',
			userId: other,
			role: 'user',
			parts: [{ type: 'text', text: 'Sourdough and tomatoes and Lisbon' }]
		});

		storageState = await context.storageState();
		await context.close();
		expect(gardenId).toMatch(/^[\w-]+$/);
	});

	it('groups the chats under Today, Yesterday, Last 7 days and Older', async () => {
		const page = await newPage();
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		const sidebar = sidebarOf(page);
		await expect(groups(sidebar)).resolves.toEqual([
			['Today', ['Sourdough starter']],
			['Yesterday', ['Garden plans']],
			['Last 7 days', ['Tax return 100% done']],
			['Older', ['Old trip']]
		]);
		// Real headings, each naming its list.
		await expect(sidebar.getByRole('heading', { level: 2 }).allTextContents()).resolves.toEqual([
			'Today',
			'Yesterday',
			'Last 7 days',
			'Older'
		]);
		await sidebar.getByRole('region', { name: 'Yesterday' }).getByRole('link').waitFor();
		await page.context().close();
	});

	it('searches by title and by message text as one types, keeping focus', async () => {
		const page = await newPage();
		await page.goto(`${app.url}/dashboard/chat/${gardenId}`);
		await hydrated(page);
		const sidebar = sidebarOf(page);
		const box = sidebar.getByRole('searchbox', { name: 'Search chats' });

		await box.fill('SOUR');
		await page.waitForURL((url) => url.searchParams.get('q') === 'SOUR');
		await expect.poll(() => titles(sidebar)).toEqual(['Sourdough starter']);
		await expect(box.evaluate((input) => input === document.activeElement)).resolves.toBe(true);
		await expect(sidebar.getByTestId('chat-snippet').count()).resolves.toBe(0);

		await box.fill('tomatoes');
		await expect.poll(() => titles(sidebar)).toEqual(['Garden plans']);
		const snippet = sidebar.getByTestId('chat-snippet');
		await expect(snippet.textContent()).resolves.toContain('When should I plant the tomatoes?');
		await expect(snippet.locator('mark').textContent()).resolves.toBe('tomatoes');
		await expect(box.evaluate((input) => input === document.activeElement)).resolves.toBe(true);
		// The open chat stays highlighted among the results, and following one keeps the search.
		await expect(
			sidebar.getByRole('link', { name: /Garden plans/ }).getAttribute('aria-current')
		).resolves.toBe('page');

		await box.fill('lisbon');
		await expect.poll(() => titles(sidebar)).toEqual(['Old trip']);
		await sidebar.getByRole('link', { name: /Old trip/ }).click();
		await page.waitForURL(/\/dashboard\/chat\/sb-old\?q=lisbon$/);
		await expect(box.inputValue()).resolves.toBe('lisbon');
		await expect(groups(sidebar)).resolves.toEqual([['Older', ['Old trip']]]);

		// Wildcards are literal, and JSON around the text never matches.
		await box.fill('100%');
		await expect.poll(() => titles(sidebar)).toEqual(['Tax return 100% done']);
		await box.fill('"type"');
		await sidebar.getByText('No chats match “"type"”').waitFor();
		await page.context().close();
	});

	it('shows an empty state, and clearing brings every chat back', async () => {
		const page = await newPage();
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		const sidebar = sidebarOf(page);
		const box = sidebar.getByRole('searchbox', { name: 'Search chats' });

		await box.fill('quantum');
		await sidebar.getByText('No chats match “quantum”').waitFor();
		await expect(sidebar.getByTestId('chat-list').count()).resolves.toBe(0);
		await expect(sidebar.getByRole('status').textContent()).resolves.toContain('0 chats match');

		await sidebar.getByRole('link', { name: 'Clear search' }).click();
		await page.waitForURL((url) => !url.searchParams.has('q'));
		await expect.poll(() => titles(sidebar)).toHaveLength(4);
		await expect(box.inputValue()).resolves.toBe('');
		await expect(box.evaluate((input) => input === document.activeElement)).resolves.toBe(true);

		// Escape clears too; "Show all chats" in the empty state as well.
		await box.fill('quantum');
		await sidebar.getByText('No chats match “quantum”').waitFor();
		await box.press('Escape');
		await expect.poll(() => titles(sidebar)).toHaveLength(4);
		await box.fill('quantum');
		await sidebar.getByRole('link', { name: 'Show all chats' }).click();
		await expect.poll(() => titles(sidebar)).toHaveLength(4);
		await page.context().close();
	});

	it('searches without JavaScript (a GET form)', async () => {
		const page = await newPage({ javaScriptEnabled: false });
		await page.goto(`${app.url}/dashboard/chat`);
		const sidebar = sidebarOf(page);
		await sidebar.getByLabel('Search chats').fill('  LISBON  ');
		await sidebar.getByLabel('Search chats').press('Enter');
		await page.waitForURL(/\?q=/);
		await expect(titles(sidebar)).resolves.toEqual(['Old trip']);
		await expect(sidebar.getByTestId('chat-snippet').textContent()).resolves.toContain(
			'Three days in Lisbon'
		);
		await sidebar.getByRole('link', { name: 'Clear search' }).click();
		await page.waitForURL((url) => !url.searchParams.has('q'));
		await expect(titles(sidebar)).resolves.toHaveLength(4);
		await page.context().close();
	});

	it('searches in the drawer at 375 px', async () => {
		const page = await newPage({ viewport: { width: 375, height: 740 } });
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		await page.getByRole('button', { name: 'Chats' }).click();
		const drawer = page.getByRole('dialog', { name: 'Chats' });
		await drawer.getByRole('searchbox', { name: 'Search chats' }).fill('garden');
		await expect.poll(() => titles(drawer)).toEqual(['Garden plans']);
		const width = await page.evaluate(() => document.documentElement.scrollWidth);
		expect(width).toBeLessThanOrEqual(375);
		await drawer.getByRole('link', { name: /Garden plans/ }).click();
		await page.waitForURL(new RegExp(`/dashboard/chat/${gardenId}\\?q=garden$`));
		await expect(page.getByRole('dialog', { name: 'Chats' }).count()).resolves.toBe(0);
		await page.context().close();
	});

	/** axe's serious and critical violations (as in tests/browser/accessibility.test.ts). */
	async function seriousViolations(page: Page): Promise<string[]> {
		await page.evaluate(AXE_SOURCE);
		const results = await page.evaluate(() =>
			(window as unknown as { axe: { run(): Promise<AxeResults> } }).axe.run()
		);
		return results.violations
			.filter((v) => v.impact === 'serious' || v.impact === 'critical')
			.flatMap((v) => v.nodes.map((node) => `${v.id} ${node.target.join(' ')}: ${v.help}`));
	}

	for (const theme of ['light', 'dark'] as const) {
		it(`has no serious axe violations in results, groups and the empty state (${theme})`, async () => {
			const page = await newPage({ colorScheme: theme });
			await page.addInitScript((value) => localStorage.setItem('theme', value), theme);
			await page.goto(`${app.url}/dashboard/chat/${gardenId}`);
			await hydrated(page);
			await page.screenshot({ path: screenshotPath(`chat-groups-${theme}`) });
			await expect(seriousViolations(page)).resolves.toEqual([]);
			await page.goto(`${app.url}/dashboard/chat/${gardenId}?q=tomatoes`);
			await hydrated(page);
			await sidebarOf(page).getByTestId('chat-snippet').waitFor();
			await page.screenshot({ path: screenshotPath(`chat-search-${theme}`) });
			await expect(seriousViolations(page)).resolves.toEqual([]);
			await page.goto(`${app.url}/dashboard/chat?q=nothing-at-all`);
			await hydrated(page);
			await sidebarOf(page).getByText('No chats match').waitFor();
			await expect(seriousViolations(page)).resolves.toEqual([]);
			await page.context().close();
		});
	}

	it("groups by the browser's days, not the server's", async () => {
		// Kiritimati is UTC+14 all year: its midnight is 10:00 UTC, so a minute before it is
		// "Yesterday" there while UTC (the server render) may still call it today.
		const now = Date.now();
		const offset = 14 * 3_600_000;
		const midnight = Math.floor((now + offset) / DAY) * DAY - offset;
		await database.db.insert(chat).values([
			{
				id: 'sb-tz-before',
				userId,
				title: 'A minute before midnight',
				model: 'demo',
				updatedAt: new Date(midnight - 60_000)
			},
			{
				id: 'sb-tz-after',
				userId,
				title: 'Just after midnight',
				model: 'demo',
				updatedAt: new Date(Math.min(midnight + 60_000, now - 1000))
			}
		]);
		const page = await newPage({ timezoneId: 'Pacific/Kiritimati' });
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		const byGroup = Object.fromEntries(await groups(sidebarOf(page))) as Record<string, string[]>;
		expect(byGroup['Yesterday']).toContain('A minute before midnight');
		if (now - midnight > 61_000) expect(byGroup['Today']).toContain('Just after midnight');
		await page.context().close();
	});
});
