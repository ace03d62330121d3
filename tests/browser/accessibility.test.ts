import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AxeResults } from 'axe-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { launchChromium } from '../helpers/browser';
import { linkTo, startMailServer, type MailServer } from '../helpers/mail-server';
import { grantAdminRole } from '../helpers/users';

// axe-core's own bundle, evaluated in the page (CDP evaluation is not subject to the app's CSP).
const AXE_SOURCE = readFileSync(
	createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
	'utf8'
);

const PASSWORD = 'analytical engine';
const CUSTOMER = 'ada@example.com';
const ADMIN = 'boss@example.com';
const BROKE = 'broke@example.com';
const THEMES = ['light', 'dark'] as const;
type Theme = (typeof THEMES)[number];
const WIDTHS = [
	{ name: 'desktop', viewport: { width: 1280, height: 900 } },
	{ name: '375 px', viewport: { width: 375, height: 800 } }
];

/** Who looks at a page: nobody, a customer with a chat and a purchase, one at 0 credits, an admin. */
type Viewer = 'anonymous' | 'customer' | 'broke' | 'admin';

interface Visit {
	name: string;
	viewer: Viewer;
	/** The app the page belongs to: `mail` runs with SMTP, so email links exist. */
	server?: 'main' | 'mail';
	/** A path on the server, or the steps to the state to check (`run` names theme and width). */
	open: string | ((page: Page, run: string) => Promise<void>);
	status?: number;
	/**
	 * A request refused in hooks.server.ts gets the static src/error.html: no scripts to hydrate
	 * and no stored theme, only the system's colour scheme (which the context emulates too).
	 */
	staticPage?: boolean;
}

describe('accessibility (axe-core) of every page, light and dark', () => {
	let app: AppServer;
	let mailApp: AppServer;
	let mail: MailServer;
	let browser: Browser;
	const sessions: Partial<Record<Viewer, Awaited<ReturnType<BrowserContext['storageState']>>>> = {};
	let chatPath = '';
	let customerPath = '';
	let resetLink = '';

	const hydrated = async (page: Page) => {
		await page.waitForLoadState('networkidle');
		await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
	};

	async function signUp(page: Page, server: AppServer, email: string, name: string) {
		await page.goto(`${server.url}/signup`);
		await hydrated(page);
		await page.getByLabel('Name').fill(name);
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Create account' }).click();
	}

	beforeAll(async () => {
		mail = await startMailServer();
		[app, mailApp, browser] = await Promise.all([
			startAppServer({ POLAR_TEST_MODE: 'true', DEMO_MODEL_DELAY_MS: '0' }),
			startAppServer({ SMTP_URL: mail.url, DEMO_MODEL_DELAY_MS: '0' }),
			launchChromium()
		]);

		// A customer with a finished reply, a test-mode purchase and so a history.
		const customer = await browser.newContext({ viewport: { width: 1280, height: 900 } });
		const page = await customer.newPage();
		await signUp(page, app, CUSTOMER, 'Ada Lovelace');
		await page.waitForURL('**/dashboard');
		await page.goto(`${app.url}/dashboard/chat`);
		await hydrated(page);
		await page.getByLabel('Message').fill('How do credits work?');
		await page.getByLabel('Message').press('Enter');
		await page.getByRole('button', { name: 'Regenerate' }).waitFor();
		await page.waitForURL(/\/dashboard\/chat\/[\w-]+$/);
		chatPath = new URL(page.url()).pathname;
		await page.goto(`${app.url}/dashboard/buy`);
		await hydrated(page);
		await page
			.getByTestId('offer')
			.filter({ has: page.getByRole('heading', { name: '1,000 credits', exact: true }) })
			.getByRole('button', { name: 'Buy (test mode)' })
			.click();
		await page.waitForURL('**/dashboard/credits?checkout=success');
		sessions.customer = await customer.storageState();
		await customer.close();

		// A customer whose balance an admin set to 0 (the chat locks), and the admin, whose audit
		// log then has rows.
		const broke = await browser.newContext({ viewport: { width: 1280, height: 900 } });
		const brokePage = await broke.newPage();
		await signUp(brokePage, app, BROKE, 'Charles Babbage');
		await brokePage.waitForURL('**/dashboard');
		sessions.broke = await broke.storageState();
		await broke.close();

		const boss = await browser.newContext({ viewport: { width: 1280, height: 900 } });
		const adminPage = await boss.newPage();
		await signUp(adminPage, app, ADMIN, 'The Boss');
		await adminPage.waitForURL('**/dashboard');
		await grantAdminRole(app.databaseUrl, ADMIN);
		const adjust = async (email: string, action: 'add' | 'set', amount: string) => {
			await adminPage.goto(`${app.url}/admin/users?q=${encodeURIComponent(email)}`);
			await adminPage.getByRole('link', { name: email }).click();
			await adminPage.waitForURL(/\/admin\/users\/[^/?]+$/);
			await hydrated(adminPage);
			const form = adminPage.getByTestId('adjust-form');
			await form.getByLabel('Action').selectOption(action);
			await form.getByLabel('Credits').fill(amount);
			await form.getByLabel(/^Reason/).fill('Goodwill for the outage');
			await form.getByRole('button', { name: 'Review' }).click();
			await adminPage
				.getByTestId('adjust-confirm')
				.getByRole('button', { name: 'Confirm' })
				.click();
			await adminPage.getByText(/^Done: /).waitFor();
			return new URL(adminPage.url()).pathname;
		};
		await adjust(BROKE, 'set', '0');
		customerPath = await adjust(CUSTOMER, 'add', '25');
		sessions.admin = await boss.storageState();
		await boss.close();

		// A live password-reset link on the app that sends email.
		const stranger = await browser.newContext();
		const mailPage = await stranger.newPage();
		await signUp(mailPage, mailApp, 'grace@example.com', 'Grace Hopper');
		await mailPage.getByRole('heading', { name: 'Check your inbox' }).waitFor();
		await mailPage.goto(`${mailApp.url}/forgot-password`);
		await hydrated(mailPage);
		await mailPage.getByLabel('Email').fill('grace@example.com');
		await mailPage.getByRole('button', { name: 'Send reset link' }).click();
		resetLink = linkTo(
			await mail.waitFor('grace@example.com', /Reset your/),
			'/reset-password'
		).href;
		await stranger.close();
	}, 180_000);

	afterAll(async () => {
		await browser?.close();
		await Promise.all([app?.stop(), mailApp?.stop()]);
		await mail?.close();
	});

	const visits: Visit[] = [
		{ name: 'landing', viewer: 'anonymous', open: '/' },
		{ name: 'login', viewer: 'anonymous', open: '/login' },
		{
			name: 'login with an error',
			viewer: 'anonymous',
			open: async (page) => {
				await page.goto(`${app.url}/login`);
				await hydrated(page);
				await page.getByLabel('Email').fill(CUSTOMER);
				await page.getByLabel('Password').fill('not the password');
				await page.getByRole('button', { name: 'Sign in' }).click();
				await page.getByRole('alert').first().waitFor();
			}
		},
		{ name: 'signup', viewer: 'anonymous', open: '/signup' },
		{
			name: 'signup: check your inbox',
			viewer: 'anonymous',
			server: 'mail',
			open: async (page, run) => {
				await signUp(page, mailApp, `new-${run}@example.com`, 'New');
				await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
			}
		},
		{ name: 'forgot-password', viewer: 'anonymous', open: '/forgot-password' },
		{
			name: 'forgot-password: sent',
			viewer: 'anonymous',
			server: 'mail',
			open: async (page) => {
				await page.goto(`${mailApp.url}/forgot-password`);
				await hydrated(page);
				await page.getByLabel('Email').fill('nobody@example.com');
				await page.getByRole('button', { name: 'Send reset link' }).click();
				await page.getByText('Check your inbox').waitFor();
			}
		},
		{ name: 'reset-password without a token', viewer: 'anonymous', open: '/reset-password' },
		{
			name: 'reset-password with a token',
			viewer: 'anonymous',
			server: 'mail',
			open: async (page) => {
				await page.goto(resetLink);
				await page.getByLabel('New password', { exact: true }).waitFor();
			}
		},
		{ name: 'verify-email', viewer: 'anonymous', server: 'mail', open: '/verify-email' },
		{
			name: 'verify-email with a bad token',
			viewer: 'anonymous',
			server: 'mail',
			open: '/verify-email?token=not-a-token'
		},
		{ name: '404 (signed out)', viewer: 'anonymous', open: '/no-such-page', status: 404 },
		{ name: 'dashboard', viewer: 'customer', open: '/dashboard' },
		{
			name: 'dashboard with the account menu open',
			viewer: 'customer',
			open: async (page) => {
				await page.goto(`${app.url}/dashboard`);
				await hydrated(page);
				await page.getByRole('button', { name: 'Account menu' }).click();
				await page.getByRole('menu').waitFor();
			}
		},
		{
			name: 'chat (empty)',
			viewer: 'customer',
			open: async (page) => {
				await page.goto(`${app.url}/dashboard/chat`);
				await page.getByRole('heading', { name: 'Start a conversation' }).waitFor();
			}
		},
		{
			name: 'chat (with a reply)',
			viewer: 'customer',
			open: async (page) => {
				await page.goto(`${app.url}${chatPath}`);
				await page.getByTestId('receipt').first().waitFor();
			}
		},
		{
			name: 'chat at 0 credits (locked)',
			viewer: 'broke',
			open: async (page) => {
				await page.goto(`${app.url}/dashboard/chat`);
				await page.getByText("You're out of credits.").waitFor();
			}
		},
		{ name: 'credits (with history)', viewer: 'customer', open: '/dashboard/credits' },
		{ name: 'buy', viewer: 'customer', open: '/dashboard/buy' },
		{ name: 'settings', viewer: 'customer', open: '/dashboard/settings' },
		{ name: 'billing portal', viewer: 'customer', open: '/dashboard/billing/portal' },
		{ name: '404 (signed in)', viewer: 'customer', open: '/dashboard/no-such-page', status: 404 },
		{
			name: '403 (admin page, not an admin)',
			viewer: 'customer',
			open: '/admin',
			status: 403,
			staticPage: true
		},
		{ name: 'admin overview', viewer: 'admin', open: '/admin' },
		{ name: 'admin users', viewer: 'admin', open: '/admin/users' },
		{
			name: 'admin user',
			viewer: 'admin',
			open: async (page) => {
				const response = await page.goto(`${app.url}${customerPath}`);
				expect(response?.status()).toBe(200);
			}
		},
		{ name: 'admin transactions', viewer: 'admin', open: '/admin/transactions' },
		{ name: 'admin webhooks', viewer: 'admin', open: '/admin/webhooks' },
		{ name: 'admin audit', viewer: 'admin', open: '/admin/audit' }
	];

	async function themedPage(
		viewer: Viewer,
		theme: Theme,
		viewport: { width: number; height: number }
	): Promise<Page> {
		const context = await browser.newContext({
			viewport,
			colorScheme: theme,
			storageState: viewer === 'anonymous' ? undefined : sessions[viewer]
		});
		// The theme toggle's stored choice, read by app.html before the first paint.
		await context.addInitScript((value) => localStorage.setItem('theme', value), theme);
		return context.newPage();
	}

	/**
	 * Runs every axe rule (WCAG 2.x A/AA and best practices) and returns the serious and critical
	 * violations, one line per element: rule, impact, target and what to fix.
	 */
	async function seriousViolations(page: Page): Promise<string[]> {
		await page.evaluate(AXE_SOURCE);
		const results = await page.evaluate(() =>
			(window as unknown as { axe: { run(): Promise<AxeResults> } }).axe.run()
		);
		return results.violations
			.filter((v) => v.impact === 'serious' || v.impact === 'critical')
			.flatMap((v) =>
				v.nodes.map(
					(node) =>
						`${v.id} [${v.impact}] ${node.target.join(' ')}: ${v.help}\n    ${(node.failureSummary ?? '').replace(/\n/g, '\n    ')}`
				)
			);
	}

	for (const theme of THEMES) {
		for (const width of WIDTHS) {
			describe(`${theme}, ${width.name}`, () => {
				for (const visit of visits) {
					it(`${visit.name} has no serious or critical violations`, async () => {
						const page = await themedPage(visit.viewer, theme, width.viewport);
						try {
							const server = visit.server === 'mail' ? mailApp : app;
							if (typeof visit.open === 'string') {
								const response = await page.goto(`${server.url}${visit.open}`);
								expect(response?.status(), visit.name).toBe(visit.status ?? 200);
							} else {
								await visit.open(page, `${theme}-${width.viewport.width}`);
							}
							if (!visit.staticPage) {
								await hydrated(page);
								const dark = await page.evaluate(() =>
									document.documentElement.classList.contains('dark')
								);
								expect(dark).toBe(theme === 'dark');
							}
							expect(await seriousViolations(page)).toEqual([]);
						} finally {
							await page.context().close();
						}
					});
				}
			});
		}
	}
});
