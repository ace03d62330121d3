import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { launchChromium, screenshotPath } from '../helpers/browser';

const PASSWORD = 'analytical engine';
const CHAT_PATH = /\/dashboard\/chat\/[\w-]{1,64}$/;

describe('chat in a real browser', () => {
	// No OPENAI_API_KEY: every app answers with the built-in demo model, "Demo (offline)".
	let app: AppServer;
	let broke: AppServer;
	let slow: AppServer;
	let browser: Browser;

	beforeAll(async () => {
		[app, broke, slow, browser] = await Promise.all([
			startAppServer({ DEMO_MODEL_DELAY_MS: '15' }),
			startAppServer({ DEMO_MODEL_DELAY_MS: '15', SIGNUP_BONUS_CREDITS: '0' }),
			startAppServer({ DEMO_MODEL_DELAY_MS: '60', CHAT_MAX_INPUT_CHARS: '500' }),
			launchChromium()
		]);
	});
	afterAll(async () => {
		await browser?.close();
		await Promise.all([app?.stop(), broke?.stop(), slow?.stop()]);
	});

	async function newPage(server: AppServer, options: BrowserContextOptions = {}): Promise<Page> {
		const context = await browser.newContext({
			viewport: { width: 1280, height: 860 },
			...options
		});
		await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
		return context.newPage();
	}

	async function signUp(page: Page, server: AppServer, email: string) {
		await page.goto(`${server.url}/signup`);
		await page.getByLabel('Name').fill('Grace Hopper');
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL('**/dashboard');
	}

	/**
	 * Waits until the page's scripts have loaded: a key pressed before hydration would reach a
	 * plain textarea (Enter adds a newline instead of sending), a flake seen on a loaded CI machine.
	 */
	async function hydrated(page: Page) {
		await page.waitForLoadState('networkidle');
		await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
	}

	async function signIn(page: Page, server: AppServer, email: string) {
		await page.goto(`${server.url}/login`);
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Sign in' }).click();
		await page.waitForURL('**/dashboard');
	}

	async function badge(page: Page): Promise<number> {
		const text = (await page.getByTestId('credit-badge').textContent()) ?? '';
		return Number(text.replace(/[^\d]/g, ''));
	}

	const lastReply = (page: Page) =>
		page.locator('[data-role="assistant"]').last().getByTestId('assistant-text');

	async function replyLength(page: Page): Promise<number> {
		return ((await lastReply(page).textContent()) ?? '').length;
	}

	/** Waits until the last reply has at least `min` characters. */
	async function replyReaches(page: Page, min: number) {
		await page.waitForFunction((n) => {
			const replies = document.querySelectorAll(
				'[data-role="assistant"] [data-testid="assistant-text"]'
			);
			return (replies[replies.length - 1]?.textContent ?? '').length >= n;
		}, min);
	}

	it('streams a reply, then shows its URL, receipt, sidebar entry and the new balance', async () => {
		const page = await newPage(app);
		await signUp(page, app, 'grace@example.com');
		expect(await badge(page)).toBe(8);

		await page.getByRole('link', { name: 'Chat', exact: true }).click();
		await page.waitForURL('**/dashboard/chat');
		await page.getByRole('heading', { name: 'Start a conversation' }).waitFor();
		await expect(page.getByText('Each reply costs credits').isVisible()).resolves.toBe(true);
		// The only model is shown, not offered.
		await expect(page.getByText('Demo (offline)').isVisible()).resolves.toBe(true);
		await expect(page.getByRole('combobox').count()).resolves.toBe(0);
		await page.screenshot({ path: screenshotPath('chat-01-new-chat'), fullPage: true });

		// An example prompt fills the composer; it is not sent (that would cost credits).
		await page.getByRole('button', { name: 'Give me three ideas for a weekend project' }).click();
		const message = page.getByLabel('Message');
		await expect(message.inputValue()).resolves.toBe('Give me three ideas for a weekend project');
		await message.fill('');

		// Shift+Enter is a newline and the textarea grows; Enter sends.
		const oneLine = await message.evaluate((el) => el.getBoundingClientRect().height);
		await message.pressSequentially('How do credits work?');
		await message.press('Shift+Enter');
		await message.pressSequentially('Answer briefly.');
		await message.press('Shift+Enter');
		await message.pressSequentially('Thanks!');
		await expect(message.inputValue()).resolves.toBe(
			'How do credits work?\nAnswer briefly.\nThanks!'
		);
		const threeLines = await message.evaluate((el) => el.getBoundingClientRect().height);
		expect(threeLines).toBeGreaterThan(oneLine + 20);

		await page.evaluate(() => ((window as unknown as { marker: string }).marker = 'no reload'));
		await message.press('Enter');

		// Streaming: Stop is offered and the text grows between two samples.
		const stop = page.getByRole('button', { name: 'Stop', exact: true });
		await stop.waitFor();
		await replyReaches(page, 20);
		const first = await replyLength(page);
		await page.waitForTimeout(400);
		const second = await replyLength(page);
		expect(second).toBeGreaterThan(first);
		await expect(stop.isVisible()).resolves.toBe(true);
		await expect(message.inputValue()).resolves.toBe('');
		await page.screenshot({ path: screenshotPath('chat-02-streaming'), fullPage: true });

		// Finished: Regenerate replaces Stop, and the URL names the chat without a reload.
		await page.getByRole('button', { name: 'Regenerate' }).waitFor();
		await stop.waitFor({ state: 'detached' });
		await page.waitForURL(CHAT_PATH);
		const chatUrl = page.url();
		await expect(lastReply(page).textContent()).resolves.toContain('restart the server.');
		await expect(page.locator('[data-role="user"]').first().textContent()).resolves.toContain(
			'Answer briefly.'
		);
		// The demo reply's fenced TypeScript is highlighted.
		await expect(
			lastReply(page).locator('code.language-ts .hljs-keyword').count()
		).resolves.toBeGreaterThan(0);

		const receipt = page.getByTestId('receipt');
		await receipt.waitFor();
		await expect(receipt.textContent()).resolves.toMatch(/\d+ in · \d+ out · 1 credit/);
		const sidebar = page.getByRole('navigation', { name: 'Chats' });
		const link = sidebar.getByRole('link', { name: 'How do credits work?' });
		await link.waitFor();
		await expect(link.getAttribute('aria-current')).resolves.toBe('page');
		await expect(link.getAttribute('href')).resolves.toBe(new URL(chatUrl).pathname);
		await expect.poll(() => badge(page), { timeout: 15_000 }).toBe(7);
		await expect(
			page.evaluate(() => (window as unknown as { marker?: string }).marker)
		).resolves.toBe('no reload');

		// The receipt opens to show where the credits came from.
		await receipt.locator('summary').click();
		await receipt.getByText('Paid from').waitFor();
		await expect(receipt.textContent()).resolves.toMatch(/Demo \(offline\)/);

		// Copy puts the reply's text on the clipboard and says so.
		await page.getByRole('button', { name: 'Copy', exact: true }).click();
		await page.getByText('Copied', { exact: true }).waitFor();
		const copied = await page.evaluate(() => navigator.clipboard.readText());
		expect(copied).toContain('**Demo mode.**');
		await page.screenshot({ path: screenshotPath('chat-03-finished'), fullPage: true });

		// Regenerate streams a new reply in place and is charged again.
		await page.getByRole('button', { name: 'Regenerate' }).click();
		await stop.waitFor();
		await page.getByRole('button', { name: 'Regenerate' }).waitFor();
		await expect(page.locator('[data-role="assistant"]').count()).resolves.toBe(1);
		await expect.poll(() => badge(page), { timeout: 15_000 }).toBe(6);
		await page.getByTestId('receipt').waitFor();

		// Everything is stored: a reload shows the same conversation with its receipt.
		await page.reload();
		await page.getByTestId('receipt').waitFor();
		await expect(page.locator('[data-role="user"]').count()).resolves.toBe(1);
		await expect(lastReply(page).textContent()).resolves.toContain('restart the server.');

		// Rename inline.
		await sidebar.getByRole('button', { name: 'Rename “How do credits work?”' }).click();
		const name = sidebar.getByLabel('Chat name');
		await name.fill('Credits explained');
		await name.press('Enter');
		await sidebar.getByRole('link', { name: 'Credits explained' }).waitFor();
		await expect(page.getByTestId('chat-title').textContent()).resolves.toContain(
			'Credits explained'
		);
		await page.screenshot({ path: screenshotPath('chat-04-renamed'), fullPage: true });
		await page.context().close();
	});

	it('fits a 375 px phone, with the sidebar behind a toggle, in light and dark mode', async () => {
		const page = await newPage(app, { viewport: { width: 375, height: 740 } });
		await signIn(page, app, 'grace@example.com');
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		await page.getByLabel('Message').waitFor();
		const sidebar = page.getByRole('navigation', { name: 'Chats' });
		await expect(sidebar.isVisible()).resolves.toBe(false);

		await page.getByRole('button', { name: 'Chats', exact: true }).click();
		await sidebar.getByRole('link', { name: 'Credits explained' }).waitFor();
		await page.screenshot({ path: screenshotPath('chat-05-mobile-drawer') });
		await sidebar.getByRole('link', { name: 'Credits explained' }).click();
		await page.waitForURL(CHAT_PATH);
		await page.getByTestId('receipt').waitFor();
		await expect(sidebar.isVisible()).resolves.toBe(false);
		const overflow = await page.evaluate(
			() => document.documentElement.scrollWidth - document.documentElement.clientWidth
		);
		expect(overflow).toBe(0);
		await page.screenshot({ path: screenshotPath('chat-06-mobile') });

		await page.getByRole('button', { name: 'Switch to dark mode' }).click();
		await expect(
			page.evaluate(() => document.documentElement.classList.contains('dark'))
		).resolves.toBe(true);
		await page.screenshot({ path: screenshotPath('chat-07-mobile-dark') });
		await page.context().close();

		const desktop = await newPage(app, { colorScheme: 'dark' });
		await signIn(desktop, app, 'grace@example.com');
		await desktop.goto(`${app.url}/dashboard/chat`);
		await hydrated(desktop);
		await desktop.getByRole('link', { name: 'Credits explained' }).click();
		await desktop.getByTestId('receipt').waitFor();
		await expect(
			desktop.evaluate(() => document.documentElement.classList.contains('dark'))
		).resolves.toBe(true);
		await desktop.screenshot({ path: screenshotPath('chat-08-desktop-dark') });

		// Delete asks first, then the chat is gone and the page is a new chat.
		const sidebar2 = desktop.getByRole('navigation', { name: 'Chats' });
		await sidebar2.getByRole('button', { name: 'Delete “Credits explained”' }).click();
		await sidebar2.getByText('Delete “Credits explained”?').waitFor();
		await sidebar2.getByRole('button', { name: 'Delete', exact: true }).click();
		await desktop.waitForURL(/\/dashboard\/chat$/);
		await sidebar2.getByText('Your conversations will appear here.').waitFor();
		await desktop.context().close();
	});

	it('at 0 credits disables the composer and links to Buy credits', async () => {
		const page = await newPage(broke);
		await signUp(page, broke, 'broke@example.com');
		expect(await badge(page)).toBe(0);
		await page.goto(`${broke.url}/dashboard/chat`);
		await hydrated(page);

		const message = page.getByLabel('Message');
		await message.waitFor();
		await expect(message.isDisabled()).resolves.toBe(true);
		const button = page.getByRole('button', { name: 'Insufficient credits' });
		await expect(button.isDisabled()).resolves.toBe(true);
		await expect(page.getByRole('button', { name: 'Send', exact: true }).count()).resolves.toBe(0);
		const alert = page.getByTestId('out-of-credits');
		await expect(alert.getAttribute('role')).resolves.toBe('alert');
		await expect(alert.textContent()).resolves.toContain("You're out of credits");
		const buy = alert.getByRole('link', { name: 'Buy credits' });
		await expect(buy.getAttribute('href')).resolves.toBe('/dashboard/buy');
		await page.screenshot({ path: screenshotPath('chat-09-no-credits'), fullPage: true });
		await page.context().close();
	});

	it('keeps the partial text when stopped, and still charges for it', async () => {
		const page = await newPage(slow);
		await signUp(page, slow, 'stopper@example.com');
		expect(await badge(page)).toBe(8);
		await page.goto(`${slow.url}/dashboard/chat`);
		await hydrated(page);

		// A slow network holds the request back: the typing indicator shows until the first token.
		await page.route('**/api/chat', async (route) => {
			await new Promise((resolve) => setTimeout(resolve, 1_000));
			await route.continue();
		});
		const message = page.getByLabel('Message');
		await message.fill('Tell me a long story');
		await page.getByRole('button', { name: 'Send', exact: true }).click();
		await page.getByTestId('typing-indicator').waitFor();
		await page.screenshot({ path: screenshotPath('chat-10-typing'), fullPage: true });
		await replyReaches(page, 60);
		await expect(page.getByTestId('typing-indicator').count()).resolves.toBe(0);
		await page.unrouteAll();
		await page.getByRole('button', { name: 'Stop', exact: true }).click();
		await page.getByRole('button', { name: 'Regenerate' }).waitFor();

		const partial = (await lastReply(page).textContent()) ?? '';
		expect(partial.length).toBeGreaterThanOrEqual(60);
		expect(partial).not.toContain('restart the server.');
		await page.waitForURL(CHAT_PATH);
		await expect.poll(() => badge(page), { timeout: 15_000 }).toBeLessThanOrEqual(7);
		const receipt = page.getByTestId('receipt');
		await receipt.waitFor();
		await expect(receipt.textContent()).resolves.toContain('stopped');
		// Nothing more arrived after Stop.
		await expect(lastReply(page).textContent()).resolves.toBe(partial);
		await page.screenshot({ path: screenshotPath('chat-11-stopped'), fullPage: true });

		// Past CHAT_MAX_INPUT_CHARS the composer says so and does not send; the text stays.
		const long = 'x'.repeat(600);
		await message.fill(long);
		await message.press('Enter');
		const counter = page.getByTestId('char-count');
		await expect(counter.textContent()).resolves.toContain('600 / 500');
		await expect(counter.textContent()).resolves.toContain('100 characters over the limit');
		await expect(page.getByRole('button', { name: 'Send' }).isDisabled()).resolves.toBe(true);
		await expect(message.inputValue()).resolves.toBe(long);
		await expect(page.locator('[data-role="user"]').count()).resolves.toBe(1);
		await page.screenshot({ path: screenshotPath('chat-12-too-long'), fullPage: true });
		await page.context().close();
	});

	it('explains refused and failed replies in words, and Retry recovers', async () => {
		const page = await newPage(app);
		await signIn(page, app, 'grace@example.com');
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		const message = page.getByLabel('Message');
		await message.fill('First question');
		await message.press('Enter');
		await page.waitForURL(CHAT_PATH);
		await page.getByTestId('receipt').waitFor();
		const error = page.getByTestId('chat-error');

		// Answers the server could give, played back so each one is certain to happen.
		const refuse = (status: number, code: string, text: string) =>
			page.route('**/api/chat', (route) =>
				route.fulfill({
					status,
					contentType: 'application/json',
					body: JSON.stringify({ error: { code, message: text, balance: 0 } })
				})
			);
		await refuse(402, 'insufficient_credits', 'Your credits cannot pay for a reply.');
		await message.fill('Second question');
		await message.press('Enter');
		await error.waitFor();
		await expect(error.textContent()).resolves.toContain('Not enough credits for this reply');
		await expect(
			error.getByRole('link', { name: 'Buy credits' }).getAttribute('href')
		).resolves.toBe('/dashboard/buy');
		await expect(page.locator('body').textContent()).resolves.not.toContain('"error"');

		await page.unrouteAll();
		await refuse(429, 'too_many_holds', 'You have 3 replies in progress.');
		await message.fill('Second question, again');
		await message.press('Enter');
		await page.getByText('Too many replies at once').waitFor();
		// The refused question was replaced, not repeated.
		await expect(page.locator('[data-role="user"]').count()).resolves.toBe(2);
		await expect(page.getByText('You have 3 replies in progress.').count()).resolves.toBe(0);

		// The model fails mid-stream: the partial text stays and Retry is offered.
		await page.unrouteAll();
		await page.route('**/api/chat', (route) =>
			route.fulfill({
				status: 200,
				headers: { 'content-type': 'text/event-stream', 'x-vercel-ai-ui-message-stream': 'v1' },
				body: [
					{ type: 'start', messageId: 'failed-reply' },
					{ type: 'text-start', id: 't' },
					{ type: 'text-delta', id: 't', delta: 'A partial answer' },
					{ type: 'error', errorText: 'The model failed: upstream answered 500' }
				]
					.map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`)
					.join('')
			})
		);
		await message.fill('Third question');
		await message.press('Enter');
		await page.getByText('The model ran into a problem').waitFor();
		await expect(error.textContent()).resolves.toContain('upstream answered 500');
		await expect(lastReply(page).textContent()).resolves.toContain('A partial answer');
		await page.screenshot({ path: screenshotPath('chat-13-upstream-error'), fullPage: true });

		await page.unrouteAll();
		await error.getByRole('button', { name: 'Retry' }).click();
		await page.getByRole('button', { name: 'Stop', exact: true }).waitFor();
		await page.getByRole('button', { name: 'Regenerate' }).waitFor();
		await expect(error.count()).resolves.toBe(0);
		await expect(lastReply(page).textContent()).resolves.toContain('Third question');
		await expect.poll(() => page.getByTestId('receipt').count(), { timeout: 15_000 }).toBe(2);
		await page.context().close();
	});
});
