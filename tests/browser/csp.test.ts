import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { launchChromium } from '../helpers/browser';
import { startPolarApiServer, type PolarApiServer } from '../helpers/polar-api-server';

const PASSWORD = 'difference engine';

/**
 * Every CSP violation a page reports, both ways Chromium tells: the `securitypolicyviolation`
 * event (scripts, styles, connections) and the console's "Refused to …" lines (also form-action
 * and navigations, which happen with no script running).
 */
async function watchViolations(context: BrowserContext): Promise<string[]> {
	const violations: string[] = [];
	await context.exposeBinding('__reportCsp', (_, text: string) => violations.push(text));
	await context.addInitScript(() => {
		document.addEventListener('securitypolicyviolation', (event) => {
			const report = (window as unknown as { __reportCsp(text: string): void }).__reportCsp;
			report(
				`${event.violatedDirective} blocked ${event.blockedURI || 'inline'} at ${event.sourceFile}:${event.lineNumber}:${event.columnNumber}`
			);
		});
	});
	context.on('console', (message) => {
		const text = message.text();
		if (/Content Security Policy|Refused to/i.test(text)) violations.push(text);
	});
	return violations;
}

describe('the Content-Security-Policy does not break the app', () => {
	let app: AppServer;
	let polarApp: AppServer;
	let polar: PolarApiServer;
	let browser: Browser;

	beforeAll(async () => {
		polar = await startPolarApiServer();
		polar.addProduct({ name: '1,000 credits', priceAmount: 500, metadata: { credits: 1000 } });
		[app, polarApp, browser] = await Promise.all([
			startAppServer({ DEMO_MODEL_DELAY_MS: '5' }),
			startAppServer({
				POLAR_ACCESS_TOKEN: polar.token,
				POLAR_API_URL: polar.url,
				POLAR_WEBHOOK_SECRET: 'whsec_dGVzdC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5',
				POLAR_RECONCILE_INTERVAL_SECONDS: '0'
			}),
			launchChromium()
		]);
	});
	afterAll(async () => {
		await browser?.close();
		await Promise.all([app?.stop(), polarApp?.stop(), polar?.close()]);
	});

	async function signUp(page: Page, server: AppServer, email: string) {
		await page.goto(`${server.url}/signup`);
		await page.getByLabel('Name').fill('Ada Lovelace');
		await page.getByLabel('Email').fill(email);
		await page.getByLabel('Password').fill(PASSWORD);
		await page.getByRole('button', { name: 'Create account' }).click();
		await page.waitForURL('**/dashboard');
	}

	const isDark = (page: Page) =>
		page.evaluate(() => document.documentElement.classList.contains('dark'));

	it('signing up, chatting and switching the theme raise no violation', async () => {
		const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
		const violations = await watchViolations(context);
		const page = await context.newPage();

		await page.goto(`${app.url}/`);
		await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
		await signUp(page, app, 'csp@example.com');

		await page.getByRole('link', { name: 'Chat', exact: true }).click();
		await page.waitForURL('**/dashboard/chat');
		await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
		const message = page.getByLabel('Message');
		await message.fill('How do credits work?');
		await message.press('Enter');
		await page.getByRole('button', { name: 'Regenerate' }).waitFor();
		// The reply's markdown, highlighting and receipt rendered: the stream and its styles work.
		await page.getByTestId('receipt').waitFor();
		await expect(
			page.locator('[data-role="assistant"] code.language-ts .hljs-keyword').count()
		).resolves.toBeGreaterThan(0);

		await page.goto(`${app.url}/dashboard/credits`);
		await page.waitForFunction(() => document.body.dataset.hydrated === 'true');
		expect(await isDark(page)).toBe(false);
		await page.getByRole('button', { name: 'Switch to dark mode' }).click();
		expect(await isDark(page)).toBe(true);
		// After a reload only app.html's inline script (allowed by its hash) can apply the theme
		// before the app starts: with the script blocked the page would come back light.
		await context.route('**/_app/immutable/**', (route) => route.abort());
		await page.reload();
		expect(await isDark(page)).toBe(true);
		await context.unroute('**/_app/immutable/**');

		expect(violations).toEqual([]);

		// The watcher itself works: an injected inline script is refused and reported.
		await page.evaluate(() => {
			const script = document.createElement('script');
			script.textContent = 'window.injected = true';
			document.body.append(script);
		});
		await expect.poll(() => violations.length).toBeGreaterThan(0);
		expect(await page.evaluate(() => 'injected' in window)).toBe(false);
		await context.close();
	});

	it('a buy form posted without JavaScript may redirect to the Polar checkout', async () => {
		// Chromium applies form-action to the 303 that answers the post: with form-action 'self'
		// alone it aborts the post and logs "Sending form data to … violates … form-action",
		// without ever requesting the checkout. Polar is not reachable from here (and Playwright
		// cannot route a redirect's target), so the proof is that Chromium sets out for the
		// checkout and fails on the network instead.
		const context = await browser.newContext({ javaScriptEnabled: false });
		const violations = await watchViolations(context);
		const page = await context.newPage();
		await signUp(page, polarApp, 'buyer@example.com');
		await page.goto(`${polarApp.url}/dashboard/buy`);
		const checkout = page.waitForEvent('requestfailed', (request) =>
			request.url().startsWith('https://sandbox.polar.sh/checkout/')
		);
		await page.getByRole('button', { name: 'Buy', exact: true }).click();
		const failure = (await checkout).failure()?.errorText;
		expect(failure).toMatch(/^net::ERR_(NAME_NOT_RESOLVED|INTERNET_DISCONNECTED|CONNECTION_)/);
		expect(violations).toEqual([]);
		await context.close();
	});
});
