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
 * The chat's expected controls (issue 12): Esc stops a reply, a scroll-to-bottom button,
 * timestamps on hover, the "up to N credits" hint, edit and resend, and the regenerate switcher.
 */
describe('chat controls, in a real browser', () => {
	/** A slow demo model (a reply streams for several seconds), for Esc. */
	let slow: AppServer;
	/** An instant demo model, for everything else. */
	let fast: AppServer;
	let browser: Browser;
	let slowSql: postgres.Sql;
	let sql: postgres.Sql;
	let slowContext: BrowserContext;
	let context: BrowserContext;
	let users = 0;

	beforeAll(async () => {
		[slow, fast, browser] = await Promise.all([
			startAppServer({ DEMO_MODEL_DELAY_MS: '30', SIGNUP_BONUS_CREDITS: '200' }),
			startAppServer({ DEMO_MODEL_DELAY_MS: '0', SIGNUP_BONUS_CREDITS: '1000' }),
			launchChromium()
		]);
		slowSql = postgres(slow.databaseUrl, { max: 1 });
		sql = postgres(fast.databaseUrl, { max: 1 });
		slowContext = await browser.newContext({ viewport: { width: 1280, height: 860 } });
		context = await browser.newContext({ viewport: { width: 1280, height: 700 } });
		for (const [server, ctx] of [
			[slow, slowContext],
			[fast, context]
		] as const) {
			const page = await ctx.newPage();
			await signUp(page, server, `controls-${users++}@example.com`);
			await page.close();
		}
	});
	afterAll(async () => {
		await Promise.all([sql?.end(), slowSql?.end()]);
		await browser?.close();
		await Promise.all([slow?.stop(), fast?.stop()]);
	});

	async function signUp(page: Page, server: AppServer, email: string) {
		await page.goto(`${server.url}/signup`);
		await page.getByLabel('Name').fill('Ada Lovelace');
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL('**/dashboard');
	}

	async function open(ctx: BrowserContext, server: AppServer, path: string): Promise<Page> {
		const page = await ctx.newPage();
		await page.goto(`${server.url}${path}`);
		await page.waitForLoadState('networkidle');
		await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
		return page;
	}

	async function ask(page: Page, text: string) {
		const message = page.getByLabel('Message', { exact: true });
		await message.fill(text);
		await message.press('Enter');
	}

	const replies = (page: Page) => page.locator('[data-role="assistant"]');
	const questions = (page: Page) => page.locator('[data-role="user"]');
	const chatIdOf = (page: Page) => CHAT_PATH.exec(new URL(page.url()).pathname)?.[1] ?? '';

	/** Waits until `count` replies are finished and carry their receipt. */
	async function repliesDone(page: Page, count: number, timeout = 20_000) {
		await page.waitForFunction(
			(n) =>
				document.querySelectorAll('[data-role="assistant"] [data-testid="receipt"]').length >= n &&
				!document.querySelector('[data-role="assistant"][data-streaming]'),
			count,
			{ timeout }
		);
		// The page's data (times, versions) is refreshed once the reply is settled.
		await page.waitForLoadState('networkidle');
	}

	/** The credits on the receipt of reply `index` (0-based). */
	async function receiptCredits(page: Page, index: number): Promise<number> {
		const text = (await replies(page).nth(index).getByTestId('receipt').textContent()) ?? '';
		const match = /([\d,]+) credits?/.exec(text);
		if (!match) throw new Error(`no credits on the receipt: ${text}`);
		return Number(match[1].replaceAll(',', ''));
	}

	async function hintCredits(page: Page): Promise<number> {
		const text = (await page.getByTestId('credits-hint').textContent()) ?? '';
		const match = /^Up to ([\d,]+) (credits?)$/.exec(text.replace(/\s+/g, ' ').trim());
		if (!match) throw new Error(`unexpected hint: ${text}`);
		const n = Number(match[1].replaceAll(',', ''));
		expect(match[2]).toBe(n === 1 ? 'credit' : 'credits');
		return n;
	}

	it('Esc stops a streaming reply, which is billed for what it produced', async () => {
		const page = await open(slowContext, slow, '/dashboard/chat');
		await ask(page, 'A reply to stop with Esc');
		await page.waitForFunction(
			() =>
				(
					document.querySelector('[data-role="assistant"][data-streaming]')?.textContent ?? ''
				).trim().length >= 40,
			undefined,
			{ timeout: 15_000 }
		);
		// Focus is still in the composer.
		await expect(
			page.evaluate(() => document.activeElement?.hasAttribute('data-composer'))
		).resolves.toBe(true);
		const started = Date.now();
		await page.keyboard.press('Escape');
		const receipt = replies(page).last().getByTestId('receipt');
		await receipt.waitFor({ timeout: 10_000 });
		expect(Date.now() - started).toBeLessThan(8_000);
		await expect(receipt.textContent()).resolves.toContain('stopped');
		const text = (await replies(page).last().getByTestId('assistant-text').textContent()) ?? '';
		expect(text).not.toContain(DEMO_END);
		const credits = await receiptCredits(page, 0);
		expect(credits).toBeGreaterThanOrEqual(1);

		// The ledger charged exactly that, once, for a reply marked aborted.
		const chatId = chatIdOf(page);
		const rows = await slowSql`select amount, metadata from credit_transaction
			where type = 'usage' and metadata->>'chatId' = ${chatId}`;
		expect(rows).toHaveLength(1);
		expect(-rows[0].amount).toBe(credits);
		expect(rows[0].metadata.aborted).toBe(true);
		await page.close();
	});

	let longChat = '';

	it('shows a scroll-to-bottom button when scrolled up, which brings the latest message back', async () => {
		const page = await open(context, fast, '/dashboard/chat');
		for (const [i, question] of ['One', 'Two', 'Three'].entries()) {
			await ask(page, `Question ${question}`);
			await repliesDone(page, i + 1);
		}
		longChat = page.url();
		const list = page.getByTestId('message-list');
		const button = page.getByRole('button', { name: 'Scroll to the latest message' });
		// At the bottom: no button.
		expect(await button.count()).toBe(0);
		await list.evaluate((el) => el.scrollTo({ top: 0 }));
		await button.waitFor();
		await button.click();
		await page.waitForFunction(
			() => {
				const el = document.querySelector('[data-testid="message-list"]')!;
				return el.scrollHeight - el.scrollTop - el.clientHeight < 5;
			},
			undefined,
			{ timeout: 5_000 }
		);
		await button.waitFor({ state: 'detached' });
		// A little way up (less than a screen) is not far enough to offer it.
		await list.evaluate((el) => el.scrollBy({ top: -100 }));
		await page.waitForTimeout(200);
		expect(await button.count()).toBe(0);
		await page.close();
	});

	it('shows each message’s local date and time on hover', async () => {
		const page = await open(context, fast, new URL(longChat).pathname);
		for (const message of [questions(page).first(), replies(page).first()]) {
			const time = message.getByTestId('message-time');
			await time.waitFor({ state: 'attached' });
			expect(await time.isVisible()).toBe(false);
			await message.hover();
			await time.waitFor({ state: 'visible' });
			const iso = (await time.getAttribute('datetime')) ?? '';
			expect(Math.abs(Date.parse(iso) - Date.now())).toBeLessThan(10 * 60_000);
			const title = (await time.getAttribute('title')) ?? '';
			expect(title).toBe(
				await page.evaluate(
					(d) => new Date(d).toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'short' }),
					iso
				)
			);
		}
		await page.close();
	});

	it('shows "up to N credits" before sending, growing with the draft, never under the receipt', async () => {
		const page = await open(context, fast, '/dashboard/chat');
		expect(await page.getByTestId('credits-hint').count()).toBe(0);
		const message = page.getByLabel('Message', { exact: true });
		await message.fill('Hi');
		const short = await hintCredits(page);
		expect(short).toBeGreaterThanOrEqual(1);
		await message.fill('Hi '.repeat(1_500));
		const long = await hintCredits(page);
		expect(long).toBeGreaterThan(short);

		// Sent: the receipt is within the hint, for a first message and for a follow-up.
		await message.fill('What does a reply cost?');
		const first = await hintCredits(page);
		await message.press('Enter');
		await repliesDone(page, 1);
		expect(await receiptCredits(page, 0)).toBeLessThanOrEqual(first);
		await message.fill('And a longer follow-up question, with more history to read. '.repeat(20));
		const second = await hintCredits(page);
		expect(second).toBeGreaterThanOrEqual(first);
		await message.press('Enter');
		await repliesDone(page, 2);
		expect(await receiptCredits(page, 1)).toBeLessThanOrEqual(second);
		await page.close();
	});

	it('edits a sent question and resends it: later messages replaced, only the new reply billed', async () => {
		const page = await open(context, fast, '/dashboard/chat');
		await ask(page, 'The first question');
		await repliesDone(page, 1);
		await ask(page, 'The second question');
		await repliesDone(page, 2);
		const chatId = chatIdOf(page);
		const usage = () =>
			sql`select id, amount, metadata from credit_transaction
				where type = 'usage' and metadata->>'chatId' = ${chatId} order by id`;
		const before = await usage();
		expect(before).toHaveLength(2);

		await questions(page).first().getByRole('button', { name: 'Edit question' }).click();
		const editor = page.getByLabel('Edit your question');
		await expect(editor.inputValue()).resolves.toBe('The first question');
		// Cancel leaves it as it was.
		await page.getByRole('button', { name: 'Cancel' }).click();
		await expect(questions(page).first().textContent()).resolves.toContain('The first question');

		await questions(page).first().getByRole('button', { name: 'Edit question' }).click();
		await editor.fill('The first question, edited');
		await page.getByRole('button', { name: 'Save & send' }).click();
		await page.waitForFunction(
			() => document.querySelectorAll('[data-role="user"]').length === 1,
			undefined,
			{ timeout: 10_000 }
		);
		await repliesDone(page, 1);
		await expect(questions(page).count()).resolves.toBe(1);
		await expect(replies(page).count()).resolves.toBe(1);
		await expect(questions(page).first().textContent()).resolves.toContain(
			'The first question, edited'
		);

		// The two earlier replies stay billed as they were; one new row for the new reply.
		const after = await usage();
		expect(after).toHaveLength(3);
		expect(after.slice(0, 2)).toEqual(before);
		expect(-after[2].amount).toBe(await receiptCredits(page, 0));

		// A reload shows the same: the stored conversation was replaced too.
		await page.reload();
		await page.waitForLoadState('networkidle');
		await expect(questions(page).count()).resolves.toBe(1);
		await expect(questions(page).first().textContent()).resolves.toContain(
			'The first question, edited'
		);
		// The replaced reply is reachable as version 1 of 2.
		await expect(replies(page).first().getByTestId('version-label').textContent()).resolves.toBe(
			'2/2'
		);
		await page.close();
	});

	it('regenerate keeps the previous reply reachable with a 1/2 switcher that survives a reload', async () => {
		const page = await open(context, fast, '/dashboard/chat');
		await ask(page, 'Regenerate me');
		await repliesDone(page, 1);
		const firstCredits = await receiptCredits(page, 0);
		expect(await page.getByTestId('versions').count()).toBe(0);
		const chatId = chatIdOf(page);
		const [firstReply] = await sql`select id from chat_message
			where chat_id = ${chatId} and role = 'assistant'`;

		await page.getByRole('button', { name: 'Regenerate', exact: true }).click();
		await page.getByTestId('version-label').waitFor({ timeout: 15_000 });
		await repliesDone(page, 1);
		const label = page.getByTestId('version-label');
		await expect(label.textContent()).resolves.toBe('2/2');
		const next = page.getByRole('button', { name: 'Next version' });
		const previous = page.getByRole('button', { name: 'Previous version' });
		await expect(next.isDisabled()).resolves.toBe(true);

		await previous.click();
		await expect(label.textContent()).resolves.toBe('1/2');
		await expect(previous.isDisabled()).resolves.toBe(true);
		// Version 1 is the first reply, with its own receipt.
		expect(await receiptCredits(page, 0)).toBe(firstCredits);
		await next.click();
		await expect(label.textContent()).resolves.toBe('2/2');

		await page.reload();
		await page.waitForLoadState('networkidle');
		await expect(page.getByTestId('version-label').textContent()).resolves.toBe('2/2');
		await page.getByRole('button', { name: 'Previous version' }).click();
		await expect(page.getByTestId('version-label').textContent()).resolves.toBe('1/2');
		const text = (await replies(page).first().getByTestId('assistant-text').textContent()) ?? '';
		expect(text).toContain(DEMO_END);
		await replies(page).first().hover();
		await page.getByLabel('Message', { exact: true }).fill('A draft with its credits hint');
		await page.screenshot({ path: screenshotPath('chat-controls') });

		// Both replies were generated and billed once each; the current one holds the old one.
		const rows = await sql`select metadata from credit_transaction
			where type = 'usage' and metadata->>'chatId' = ${chatId} order by id`;
		expect(rows).toHaveLength(2);
		expect(rows[0].metadata.messageId).toBe(firstReply.id);
		await page.close();
	});
});
