import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { launchChromium, screenshotPath } from '../helpers/browser';

const PASSWORD = 'analytical engine';
const CHAT_PATH = /\/dashboard\/chat\/([\w-]{1,64})$/;
/** The demo model's last sentence: a reply that has it was not cut off. */
const DEMO_END = 'and restart the server.';

/**
 * A reply belongs to the server, not to the tab (issue 12, items 2–4): reloading, switching chats
 * or closing the page does not stop it, coming back shows it, and only Stop stops it — from any tab.
 */
describe('replies that survive the tab, in a real browser', () => {
	let app: AppServer;
	/** One signup credit: a single reply spends it all. */
	let poor: AppServer;
	let browser: Browser;
	let sql: postgres.Sql;
	let context: BrowserContext;
	/** The chat of the first test, finished: the others switch to it and reply in it. */
	let firstChatUrl = '';

	beforeAll(async () => {
		[app, poor, browser] = await Promise.all([
			// About 250 tokens at 25 ms: a reply streams for about 6 s.
			startAppServer({ DEMO_MODEL_DELAY_MS: '25', SIGNUP_BONUS_CREDITS: '50' }),
			startAppServer({ DEMO_MODEL_DELAY_MS: '5', SIGNUP_BONUS_CREDITS: '1' }),
			launchChromium()
		]);
		sql = postgres(app.databaseUrl, { max: 1 });
		context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
		const page = await context.newPage();
		await signUp(page, app, 'resumer@example.com');
		await page.close();
	});
	afterAll(async () => {
		await sql?.end();
		await browser?.close();
		await Promise.all([app?.stop(), poor?.stop()]);
	});

	async function signUp(page: Page, server: AppServer, email: string) {
		await page.goto(`${server.url}/signup`);
		await page.getByLabel('Name').fill('Ada Lovelace');
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL('**/dashboard');
	}

	async function hydrated(page: Page) {
		await page.waitForLoadState('networkidle');
		await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
	}

	async function open(path: string): Promise<Page> {
		const page = await context.newPage();
		await page.goto(`${app.url}${path}`);
		await hydrated(page);
		return page;
	}

	async function ask(page: Page, text: string) {
		const message = page.getByLabel('Message');
		await message.fill(text);
		await message.press('Enter');
	}

	const lastReply = (page: Page) =>
		page.locator('[data-role="assistant"]').last().getByTestId('assistant-text');
	const replyText = async (page: Page) => (await lastReply(page).textContent()) ?? '';
	const stopButton = (page: Page) => page.getByRole('button', { name: 'Stop', exact: true });

	/** Waits until the last reply shows at least `min` characters; `timeout` in ms. */
	async function replyReaches(page: Page, min: number, timeout = 15_000) {
		await page.waitForFunction(
			(n) => {
				const replies = document.querySelectorAll(
					'[data-role="assistant"] [data-testid="assistant-text"]'
				);
				return (replies[replies.length - 1]?.textContent ?? '').length >= n;
			},
			min,
			{ timeout }
		);
	}

	/** Waits until a reply is streaming with at least `min` characters shown. */
	async function streamingReaches(page: Page, min: number, timeout = 15_000) {
		await page.waitForFunction(
			(n) =>
				(
					document.querySelector('[data-role="assistant"][data-streaming]')?.textContent ?? ''
				).trim().length >= n,
			min,
			{ timeout }
		);
	}

	/** The chat's stored replies, oldest first, with their receipts. */
	const storedReplies = (chatId: string) =>
		sql`select id, parts, metadata from chat_message
			where chat_id = ${chatId} and role = 'assistant' order by created_at`;
	const usageFor = (messageId: string) =>
		sql`select amount from credit_transaction
			where type = 'usage' and metadata->>'messageId' = ${messageId}`;

	it('reload mid-reply: the partial reply is back within a second, then the full one, not "stopped"', async () => {
		const page = await open('/dashboard/chat');
		await ask(page, 'What survives a reload?');
		await replyReaches(page, 60);
		// A new chat names itself in the sidebar while its first reply streams.
		const entry = page.getByRole('link', { name: 'What survives a reload?' });
		await entry.waitFor();
		const chatUrl = `${app.url}${await entry.getAttribute('href')}`;
		// The address already names the chat, so a reload comes back to it.
		expect(page.url()).toBe(chatUrl);

		const reloaded = Date.now();
		await page.reload();
		await replyReaches(page, 60, 5_000);
		const shownAfter = Date.now() - reloaded;
		console.info(`reload mid-reply: the partial reply showed ${shownAfter} ms after navigating`);
		expect(shownAfter).toBeLessThan(2_500);
		await expect(stopButton(page).isVisible()).resolves.toBe(true);
		await page.screenshot({ path: screenshotPath('resume-01-after-reload'), fullPage: true });
		// It goes on live to the end.
		await page.getByRole('button', { name: 'Regenerate' }).waitFor({ timeout: 20_000 });
		expect(await replyText(page)).toContain(DEMO_END);
		const receipt = page.getByTestId('receipt');
		await receipt.waitFor();
		await expect(receipt.textContent()).resolves.not.toContain('stopped');

		// And a later reload shows the same full reply, billed once.
		await page.reload();
		await hydrated(page);
		expect(await replyText(page)).toContain(DEMO_END);
		const chatId = CHAT_PATH.exec(new URL(chatUrl).pathname)![1];
		const [reply] = await storedReplies(chatId);
		expect(reply.metadata.receipt.aborted).toBe(false);
		expect(await usageFor(reply.id)).toHaveLength(1);
		firstChatUrl = chatUrl;
		await page.close();
	});

	it('switching to another chat and back mid-reply shows the answer and Stop, and it finishes live', async () => {
		const page = await open('/dashboard/chat');
		await page.evaluate(() => ((window as unknown as { marker: string }).marker = 'no reload'));
		await ask(page, 'Switch away and back');
		await replyReaches(page, 40);
		const entry = page.getByRole('link', { name: 'Switch away and back' });
		await entry.waitFor();

		// Away to the first chat (client-side navigation), then back through the sidebar.
		await page.getByRole('link', { name: 'What survives a reload?' }).click();
		await page.waitForURL(firstChatUrl);
		expect(await replyText(page)).toContain(DEMO_END);
		const leftWith = await replyText(page);
		await entry.click();
		await page.waitForURL(CHAT_PATH);
		const back = Date.now();
		await page.waitForFunction(
			(left) => {
				const replies = document.querySelectorAll(
					'[data-role="assistant"] [data-testid="assistant-text"]'
				);
				const text = replies[replies.length - 1]?.textContent ?? '';
				return text.length >= 40 && text !== left;
			},
			leftWith,
			{ timeout: 5_000 }
		);
		const backAfter = Date.now() - back;
		console.info(`back to the chat: the partial reply showed ${backAfter} ms after the click`);
		expect(backAfter).toBeLessThan(1_500);
		await expect(stopButton(page).isVisible()).resolves.toBe(true);
		await expect(page.locator('[data-role="user"]').last().textContent()).resolves.toContain(
			'Switch away and back'
		);
		// Still growing, live.
		const before = (await replyText(page)).length;
		await page.waitForTimeout(500);
		expect((await replyText(page)).length).toBeGreaterThan(before);
		await page.getByRole('button', { name: 'Regenerate' }).waitFor({ timeout: 20_000 });
		expect(await replyText(page)).toContain(DEMO_END);
		await page.getByTestId('receipt').waitFor();
		await expect(page.getByTestId('receipt').textContent()).resolves.not.toContain('stopped');
		// All of it without a reload.
		await expect(
			page.evaluate(() => (window as unknown as { marker?: string }).marker)
		).resolves.toBe('no reload');
		await page.close();
	});

	it('closing the page mid-reply still yields the full reply, saved and billed once', async () => {
		const chatId = CHAT_PATH.exec(new URL(firstChatUrl).pathname)![1];
		const page = await open(new URL(firstChatUrl).pathname);
		const repliesBefore = (await storedReplies(chatId)).length;
		await ask(page, 'Close the tab now');
		await streamingReaches(page, 40);
		await page.close();

		let replies = await storedReplies(chatId);
		for (let i = 0; i < 200 && replies.length <= repliesBefore; i++) {
			await new Promise((resolve) => setTimeout(resolve, 100));
			replies = await storedReplies(chatId);
		}
		const reply = replies.at(-1)!;
		expect(replies).toHaveLength(repliesBefore + 1);
		expect(reply.parts[0].text).toContain('Close the tab now');
		expect(reply.parts[0].text).toContain(DEMO_END);
		expect(reply.metadata.receipt.aborted).toBe(false);
		expect(await usageFor(reply.id)).toHaveLength(1);
		const holds = await sql`select status from credit_hold where status = 'pending'`;
		expect(holds).toHaveLength(0);

		// Coming back shows it.
		const again = await open(new URL(firstChatUrl).pathname);
		expect(await replyText(again)).toContain(DEMO_END);
		await again.close();
	});

	it('Stop in a second tab stops the reply in both tabs, billed as stopped', async () => {
		const path = new URL(firstChatUrl).pathname;
		const chatId = CHAT_PATH.exec(path)![1];
		const first = await open(path);
		await ask(first, 'Stop me from elsewhere');
		await streamingReaches(first, 40);

		// Not `open()`: a page following a reply never goes network-idle until the reply ends.
		const second = await context.newPage();
		await second.goto(`${app.url}${path}`);
		await streamingReaches(second, 40, 3_000);
		await stopButton(second).click();
		const pressed = Date.now();
		await first.getByRole('button', { name: 'Regenerate' }).waitFor({ timeout: 5_000 });
		await second.getByRole('button', { name: 'Regenerate' }).waitFor({ timeout: 5_000 });
		expect(Date.now() - pressed).toBeLessThan(3_000);
		for (const page of [first, second]) {
			const receipt = page.locator('[data-role="assistant"]').last().getByTestId('receipt');
			await receipt.waitFor();
			await expect(receipt.textContent()).resolves.toContain('stopped');
			expect(await replyText(page)).not.toContain(DEMO_END);
		}
		const reply = (await storedReplies(chatId)).at(-1)!;
		expect(reply.metadata.receipt.aborted).toBe(true);
		expect(reply.parts[0].text).not.toContain(DEMO_END);
		expect(await usageFor(reply.id)).toHaveLength(1);
		await second.screenshot({
			path: screenshotPath('resume-02-stopped-elsewhere'),
			fullPage: true
		});
		await first.close();
		await second.close();
	});

	/** The chat whose first question is `text`, and what it stored and billed. */
	async function chatAsked(text: string) {
		const [row] = await sql`select chat_id from chat_message
			where role = 'user' and parts::text like ${`%${text}%`}`;
		const chatId: string = row.chat_id;
		const replies = await storedReplies(chatId);
		const usage = await sql`select t.amount from credit_transaction t
			join chat_message m on m.id = t.metadata->>'messageId'
			where t.type = 'usage' and m.chat_id = ${chatId}`;
		return { chatId, replies, usage };
	}

	it('Retry after a lost connection shows the reply the server finished: not asked or billed again', async () => {
		const page = await open('/dashboard/chat');
		// The request reaches the server, which runs the whole reply; the answer never arrives.
		await page.route('**/api/chat', async (route) => {
			if (route.request().method() !== 'POST') return route.continue();
			const response = await route.fetch();
			await response.body();
			await route.abort('connectionreset');
		});
		await ask(page, 'A question whose answer gets lost');
		const error = page.getByTestId('chat-error');
		await page.getByText('Connection lost').waitFor({ timeout: 30_000 });
		await page.unrouteAll();
		const before = await chatAsked('A question whose answer gets lost');
		expect(before.replies).toHaveLength(1);
		expect(before.usage).toHaveLength(1);

		await error.getByRole('button', { name: 'Retry' }).click();
		await expect.poll(() => replyText(page), { timeout: 15_000 }).toContain(DEMO_END);
		await expect(error.count()).resolves.toBe(0);
		await page.waitForURL(CHAT_PATH);
		await page.getByTestId('receipt').waitFor();
		const after = await chatAsked('A question whose answer gets lost');
		expect(after.replies.map((r) => r.id)).toEqual(before.replies.map((r) => r.id));
		expect(after.usage).toEqual(before.usage);
		await page.close();
	});

	it('Retry after a connection that never reached the server asks once', async () => {
		const page = await open('/dashboard/chat');
		await page.route('**/api/chat', (route) =>
			route.request().method() === 'POST' ? route.abort('failed') : route.continue()
		);
		await ask(page, 'A question that never left');
		const error = page.getByTestId('chat-error');
		await page.getByText('Connection lost').waitFor();
		await page.unrouteAll();
		await error.getByRole('button', { name: 'Retry' }).click();
		await page.waitForURL(CHAT_PATH, { timeout: 30_000 });
		await expect.poll(() => replyText(page), { timeout: 30_000 }).toContain(DEMO_END);
		await page.getByTestId('receipt').waitFor();
		const { replies, usage } = await chatAsked('A question that never left');
		expect(replies).toHaveLength(1);
		// Billed once, for that one reply (a row per package it drew on).
		expect(usage.length).toBeGreaterThanOrEqual(1);
		expect(usage.every((u) => u.amount < 0)).toBe(true);
		await page.close();
	});

	it('Regenerate at 0 credits keeps the last paid reply on screen and says why', async () => {
		const ownContext = await browser.newContext({ viewport: { width: 1280, height: 860 } });
		const page = await ownContext.newPage();
		await signUp(page, poor, 'broke-later@example.com');
		await page.goto(`${poor.url}/dashboard/chat`);
		await hydrated(page);
		await ask(page, 'Spend my only credit');
		await page.getByRole('button', { name: 'Regenerate' }).waitFor({ timeout: 20_000 });
		await page.waitForURL(CHAT_PATH);
		await page.getByTestId('out-of-credits').waitFor();
		const paid = await replyText(page);
		expect(paid).toContain(DEMO_END);

		const refused = page.waitForResponse(
			(r) => r.url().endsWith('/api/chat') && r.request().method() === 'POST'
		);
		await page.getByRole('button', { name: 'Regenerate' }).click();
		expect((await refused).status()).toBe(402);
		await page.waitForTimeout(500);
		await expect(page.locator('[data-role="assistant"]').count()).resolves.toBe(1);
		expect(await replyText(page)).toBe(paid);
		await expect(page.getByTestId('out-of-credits').textContent()).resolves.toContain(
			"You're out of credits"
		);
		await page.screenshot({ path: screenshotPath('resume-03-regenerate-refused'), fullPage: true });
		await ownContext.close();
	});
});
