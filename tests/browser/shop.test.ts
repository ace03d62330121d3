import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AxeResults } from 'axe-core';
import postgres from 'postgres';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creditPacks } from '../../config/credit-packs';
import { plans } from '../../config/plans';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { launchChromium, screenshotPath } from '../helpers/browser';

const AXE_SOURCE = readFileSync(
	createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
	'utf8'
);
const PASSWORD = 'difference engine';
const DAY = 86_400_000;

/** "1 Dec 2026", as the app writes dates (UTC). */
const day = (date: Date) =>
	new Intl.DateTimeFormat('en-GB', {
		day: 'numeric',
		month: 'short',
		year: 'numeric',
		timeZone: 'UTC'
	}).format(date);

describe('the shop, the membership badge and the plan links, in a real browser', () => {
	// Test mode (no POLAR_ACCESS_TOKEN): the shop offers config/credit-packs.ts and config/plans.ts.
	let app: AppServer;
	let browser: Browser;
	let sql: postgres.Sql;
	let users = 0;

	beforeAll(async () => {
		[app, browser] = await Promise.all([
			startAppServer({
				POLAR_TEST_MODE: 'true',
				SIGNUP_BONUS_CREDITS: '0',
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

	async function signUp(options: BrowserContextOptions = {}) {
		const context = await browser.newContext({
			viewport: { width: 1280, height: 900 },
			...options
		});
		const page = await context.newPage();
		await page.goto(`${app.url}/signup`);
		await page.getByLabel('Name').fill('Ada Lovelace');
		await page.getByLabel('Email').fill(`shop-${++users}@example.com`);
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL('**/dashboard');
		const { userId } = await (await page.request.get(`${app.url}/api/credits`)).json();
		return { page, userId: userId as string };
	}

	async function hydrated(page: Page) {
		await page.waitForLoadState('networkidle');
		await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
	}

	/** A subscription as the billing webhooks would have stored it. */
	async function subscribe(
		userId: string,
		planKey: string,
		options: { endsInDays?: number; cancelAtPeriodEnd?: boolean } = {}
	) {
		const plan = plans.find((p) => p.key === planKey)!;
		const now = new Date();
		const end = new Date(now.getTime() + (options.endsInDays ?? 20) * DAY);
		await sql`insert into billing_subscription (id, user_id, polar_product_id, product_name,
			plan_key, recurring_interval, membership, status, current_period_start,
			current_period_end, cancel_at_period_end, event_at)
			values (${`sub_${userId}_${planKey}`}, ${userId}, ${`test_${planKey}`}, ${plan.name},
			${planKey}, ${plan.interval}, ${plan.membership}, 'active', ${now}, ${end},
			${options.cancelAtPeriodEnd ?? false}, ${now})`;
		return end;
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

	it('shows the plans side by side above the packs, with their terms and bonuses', async () => {
		const { page } = await signUp();
		await page.goto(`${app.url}/dashboard/buy`);
		await hydrated(page);

		const section = page.locator('#plans');
		await expect(section.getByRole('heading', { name: 'Plans' }).isVisible()).resolves.toBe(true);
		const cards = section.getByTestId('plan');
		const ordered = [...plans].sort((a, b) => a.rank - b.rank);
		await expect(cards.evaluateAll((els) => els.map((el) => el.dataset.plan))).resolves.toEqual(
			ordered.map((plan) => plan.key)
		);
		// Side by side on a desktop: the four cards share one row.
		const tops = await cards.evaluateAll((els) => els.map((el) => el.getBoundingClientRect().top));
		expect(new Set(tops).size).toBe(1);

		const card = (key: string) => section.locator(`[data-plan="${key}"]`);
		const monthly = (await card('pro-monthly').textContent()) ?? '';
		expect(monthly).toContain('$9.00');
		expect(monthly).toContain('a month');
		expect(monthly).toContain('2,000 credits a month');
		expect(monthly).toContain('Up to 400 credits a day');
		const yearly = (await card('pro-yearly').textContent()) ?? '';
		expect(yearly).toContain('a year');
		expect(yearly).toContain('Paid yearly, allocated monthly');
		const unlimited = (await card('unlimited-monthly').textContent()) ?? '';
		expect(unlimited).toContain('Unlimited chat, fair use 200,000 tokens a day');
		const lifetime = (await card('lifetime').textContent()) ?? '';
		expect(lifetime).toContain('one payment');
		expect(lifetime).toContain('5,000 credits a month');
		// Nobody here has a plan: checkouts only, nothing marked current.
		await expect(section.getByTestId('current-plan').count()).resolves.toBe(0);
		await expect(
			section.getByRole('button', { name: 'Subscribe (test mode)' }).count()
		).resolves.toBe(3);
		await expect(
			card('lifetime').getByRole('button', { name: 'Buy (test mode)' }).count()
		).resolves.toBe(1);
		await expect(section.getByRole('button', { name: 'Upgrade' }).count()).resolves.toBe(0);

		// The packs below, each with its bonus when config/credit-packs.ts gives one.
		const packs = page.locator('#packs').getByTestId('offer');
		await expect(packs.count()).resolves.toBe(creditPacks.length);
		const withBonus = creditPacks.filter(
			(pack) => ((pack as { bonusCredits?: number }).bonusCredits ?? 0) > 0
		);
		await expect(page.locator('#packs').getByTestId('bonus').count()).resolves.toBe(
			withBonus.length
		);
		for (const pack of withBonus) {
			const bonus = (pack as { bonusCredits?: number }).bonusCredits!;
			const packCard = packs.filter({
				has: page.getByRole('heading', { name: pack.name, exact: true })
			});
			await expect(packCard.getByTestId('bonus').textContent()).resolves.toBe(
				`+${bonus.toLocaleString('en')} bonus`
			);
		}
		await expect(seriousViolations(page)).resolves.toEqual([]);
		await page.screenshot({ path: screenshotPath('shop-01-plans'), fullPage: true });
		await page.context().close();
	});

	it('marks the current plan with its renewal and offers upgrades that post changePlan', async () => {
		const { page, userId } = await signUp();
		const end = await subscribe(userId, 'pro-monthly');
		await page.goto(`${app.url}/dashboard/buy`);
		await hydrated(page);
		const card = (key: string) => page.locator(`#plans [data-plan="${key}"]`);

		await expect(card('pro-monthly').getAttribute('data-current')).resolves.toBe('true');
		await expect(card('pro-monthly').getByTestId('current-plan').textContent()).resolves.toBe(
			'Current plan'
		);
		await expect(card('pro-monthly').textContent()).resolves.toContain(`Renews on ${day(end)}`);
		await expect(page.locator('#plans').getByTestId('current-plan').count()).resolves.toBe(1);
		// Higher-ranked subscription plans are upgrades; a one-time plan is still a checkout.
		for (const key of ['pro-yearly', 'unlimited-monthly']) {
			await expect(
				card(key).getByRole('button', { name: 'Upgrade' }).isVisible(),
				key
			).resolves.toBe(true);
		}
		await expect(
			card('lifetime').getByRole('button', { name: 'Buy (test mode)' }).isVisible()
		).resolves.toBe(true);
		await expect(seriousViolations(page)).resolves.toEqual([]);
		await page.screenshot({ path: screenshotPath('shop-02-current-plan'), fullPage: true });

		const posted = page.waitForRequest(
			(request) => request.method() === 'POST' && request.url().includes('?/changePlan')
		);
		await card('pro-yearly').getByRole('button', { name: 'Upgrade' }).click();
		const request = await posted;
		expect(new URLSearchParams(request.postData() ?? '').get('productId')).toBe('test_pro-yearly');
		await page.context().close();

		// From the yearly plan, the monthly one is a downgrade; an ending plan says so.
		const second = await signUp();
		const ends = await subscribe(second.userId, 'pro-yearly', { cancelAtPeriodEnd: true });
		await second.page.goto(`${app.url}/dashboard/buy`);
		await hydrated(second.page);
		const yearly = second.page.locator('#plans [data-plan="pro-yearly"]');
		await expect(yearly.textContent()).resolves.toContain(`Ends on ${day(ends)}`);
		await expect(
			second.page
				.locator('#plans [data-plan="pro-monthly"]')
				.getByRole('button', { name: 'Downgrade' })
				.isVisible()
		).resolves.toBe(true);
		await second.page.context().close();
	});

	it('fits 375 px in light and dark without sideways scrolling', async () => {
		for (const colorScheme of ['light', 'dark'] as const) {
			const { page, userId } = await signUp({
				viewport: { width: 375, height: 800 },
				colorScheme
			});
			await subscribe(userId, 'pro-yearly');
			await page
				.context()
				.addInitScript((value) => localStorage.setItem('theme', value), colorScheme);
			await page.goto(`${app.url}/dashboard/buy#plans`);
			await hydrated(page);
			await expect(
				page.evaluate(() => document.documentElement.classList.contains('dark'))
			).resolves.toBe(colorScheme === 'dark');
			await expect(
				page.evaluate(() => document.documentElement.scrollWidth)
			).resolves.toBeLessThanOrEqual(375);
			await expect(seriousViolations(page)).resolves.toEqual([]);
			await page.screenshot({
				path: screenshotPath(`shop-03-375-${colorScheme}`),
				fullPage: true
			});
			await page.context().close();
		}
	});

	it('links the out-of-credits banner to the plans, and a membership unlocks the chat', async () => {
		const { page, userId } = await signUp();
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		const banner = page.getByTestId('out-of-credits');
		await banner.waitFor();
		await expect(
			banner.getByRole('link', { name: 'See plans' }).getAttribute('href')
		).resolves.toBe('/dashboard/buy#plans');
		await expect(page.getByTestId('membership-badge').count()).resolves.toBe(0);

		// A membership: the header badge with its renewal date, and no credits needed.
		const end = await subscribe(userId, 'unlimited-monthly');
		await page.reload();
		await hydrated(page);
		const badge = page.getByTestId('membership-badge');
		await expect(badge.textContent()).resolves.toBe(`Unlimited · renews ${day(end)}`);
		await expect(page.getByTestId('out-of-credits').count()).resolves.toBe(0);
		await expect(page.getByLabel('Message').isDisabled()).resolves.toBe(false);
		await expect(page.getByTestId('fair-use-banner').count()).resolves.toBe(0);

		// Today's fair use spent: the banner says replies are charged in credits again.
		await sql`insert into credit_transaction (user_id, package_id, type, amount, balance_after,
			description, metadata, idempotency_key)
			values (${userId}, null, 'usage', 0, 0, 'Reply',
			${sql.json({ membershipTokens: 200_000 })}, ${`member:${userId}`})`;
		await page.reload();
		await hydrated(page);
		await expect(page.getByTestId('fair-use-banner').textContent()).resolves.toContain(
			"Today's fair-use allowance is used up: replies are charged in credits until midnight UTC"
		);
		await expect(page.getByTestId('out-of-credits').isVisible()).resolves.toBe(true);
		await expect(seriousViolations(page)).resolves.toEqual([]);
		await page.screenshot({ path: screenshotPath('shop-04-fair-use'), fullPage: true });

		// On a phone the badge stays in the header without pushing the page sideways.
		await page.setViewportSize({ width: 375, height: 800 });
		await expect(badge.isVisible()).resolves.toBe(true);
		await expect(
			page.evaluate(() => document.documentElement.scrollWidth)
		).resolves.toBeLessThanOrEqual(375);
		await page.screenshot({ path: screenshotPath('shop-05-membership-375') });
		await page.setViewportSize({ width: 1280, height: 900 });

		// Cancelled at the period end: "until" instead of "renews".
		await sql`update billing_subscription set cancel_at_period_end = true where user_id = ${userId}`;
		await page.reload();
		await hydrated(page);
		await expect(page.getByTestId('membership-badge').textContent()).resolves.toBe(
			`Unlimited · until ${day(end)}`
		);
		await page.context().close();
	});
});
