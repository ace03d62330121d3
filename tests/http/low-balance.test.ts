import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { sendChat } from '../helpers/chat-client';
import { HttpClient, signUp } from '../helpers/http-client';
import { startMailServer, type MailServer } from '../helpers/mail-server';

const THRESHOLD_ERROR = 'Enter a whole number of credits from 1 to 1,000,000.';

describe('the low-balance alert on the built app: settings, a reply crossing it, the email, dismissing', () => {
	let mail: MailServer;
	let app: AppServer;
	let sql: postgres.Sql;

	beforeAll(async () => {
		mail = await startMailServer();
		app = await startAppServer({
			SMTP_URL: mail.url,
			MAIL_FROM: 'credit-chat <no-reply@example.com>',
			EMAIL_VERIFICATION: 'off',
			DEMO_MODEL_DELAY_MS: '0',
			SIGNUP_BONUS_CREDITS: '8',
			SWEEP_INTERVAL_SECONDS: '0'
		});
		sql = postgres(app.databaseUrl, { max: 1 });
	});
	afterAll(async () => {
		await sql?.end();
		await app?.stop();
		await mail?.close();
	});

	const alertOf = async (userId: string) =>
		(
			await sql`select threshold, armed, fired_available, fired_at, dismissed_at
			from credit_alert where user_id = ${userId}`
		)[0];

	/** Waits until no hold of the user is pending (settlement runs after the response ends). */
	async function settled(userId: string) {
		for (let i = 0; i < 100; i++) {
			const [row] = await sql`select count(*)::int as pending from credit_hold
				where user_id = ${userId} and status = 'pending'`;
			if (row.pending === 0) return;
			await new Promise((resolve) => setTimeout(resolve, 50));
		}
		throw new Error('holds were not resolved in time');
	}

	const setThreshold = (client: HttpClient, fields: Record<string, string>) =>
		client.postForm('/dashboard/settings?/lowBalance', fields);

	it('refuses a stranger and bad thresholds with inline messages, writing nothing', async () => {
		const stranger = new HttpClient(app.url);
		const refused = await setThreshold(stranger, { intent: 'save', threshold: '100' });
		expect(refused.status).toBe(303);
		expect(refused.headers.get('location')).toMatch(/^\/login/);

		const { client, userId } = await signUp(app.url, 'bad-input@example.com');
		const cases: [Record<string, string>, string][] = [
			[{ intent: 'save', threshold: 'abc' }, THRESHOLD_ERROR],
			[{ intent: 'save', threshold: '0' }, THRESHOLD_ERROR],
			[{ intent: 'save', threshold: '1000001' }, THRESHOLD_ERROR],
			[{ intent: 'save', threshold: '99999999999999999999' }, THRESHOLD_ERROR],
			[{ intent: 'save', threshold: '1.5' }, THRESHOLD_ERROR],
			[{ intent: 'save', threshold: '-3' }, THRESHOLD_ERROR],
			[{ intent: 'save', threshold: '' }, 'Enter the number of credits to be warned at.'],
			[{ intent: 'save' }, THRESHOLD_ERROR],
			[{ threshold: '100' }, 'Choose to save the alert or turn it off.'],
			[{ intent: 'explode', threshold: '100' }, 'Choose to save the alert or turn it off.']
		];
		for (const [fields, message] of cases) {
			const response = await setThreshold(client, fields);
			expect(response.status, JSON.stringify(fields)).toBe(400);
			expect(await response.text()).toContain(message);
		}
		expect(await alertOf(userId)).toBeUndefined();

		// "1,000" is a whole number as people type it.
		const saved = await setThreshold(client, { intent: 'save', threshold: ' 1,000 ' });
		expect(saved.status).toBe(200);
		expect(await saved.text()).toContain('fall below 1,000');
		expect(await alertOf(userId)).toMatchObject({ threshold: 1000, armed: false });
		const cleared = await setThreshold(client, { intent: 'clear' });
		expect(cleared.status).toBe(200);
		expect(await cleared.text()).toContain('The low-balance alert is off.');
		expect(await alertOf(userId)).toBeUndefined();
	});

	it('sends one email and shows one notice when a reply crosses the threshold, until dismissed', async () => {
		const { client, userId } = await signUp(app.url, 'low@example.com', 'Ada');
		const other = await signUp(app.url, 'other-low@example.com');
		const saved = await setThreshold(client, { intent: 'save', threshold: '8' });
		expect(saved.status).toBe(200);
		expect(await alertOf(userId)).toMatchObject({ threshold: 8, armed: true, fired_at: null });
		expect(await (await client.get('/dashboard')).text()).not.toContain(
			'Your credits are running low'
		);

		const first = await sendChat(client, { model: 'demo', text: 'How low can it go?' });
		expect(first.status).toBe(200);
		await settled(userId);
		const message = await mail.waitFor('low@example.com', /balance is below 8 credits/);
		const [{ available }] = await sql`select coalesce(sum(remaining_credits), 0)::int as available
			from credit_package where user_id = ${userId}`;
		expect(available).toBeLessThan(8);
		expect(message.text).toContain(`You have ${available} credit`);
		expect(message.text).toContain(`${app.url}/dashboard/buy#plans`);
		expect(message.text).toContain(`${app.url}/dashboard/settings#low-balance`);
		expect(await alertOf(userId)).toMatchObject({ armed: false, fired_available: available });

		const dashboard = await (await client.get('/dashboard/credits')).text();
		expect(dashboard).toContain('Your credits are running low');
		expect(dashboard).toContain('below your alert at 8');

		// A second reply below the threshold is the same crossing: no second email.
		const second = await sendChat(client, { chatId: first.chatId, model: 'demo', text: 'More?' });
		expect(second.status).toBe(200);
		await settled(userId);
		await new Promise((resolve) => setTimeout(resolve, 500));
		expect(
			mail.to('low@example.com').filter((m) => /balance is below/.test(m.subject))
		).toHaveLength(1);

		// Dismissing: strangers are refused, another user hides nothing of this one's.
		const stranger = await new HttpClient(app.url).request('/api/credits/alert/dismiss', {
			method: 'POST'
		});
		expect(stranger.status).toBe(401);
		expect((await stranger.json()).error.code).toBe('unauthorized');
		const foreign = await other.client.request('/api/credits/alert/dismiss', { method: 'POST' });
		expect(foreign.status).toBe(200);
		expect(await foreign.json()).toEqual({ dismissed: false });
		expect(await (await client.get('/dashboard')).text()).toContain('Your credits are running low');

		const dismissed = await client.request('/api/credits/alert/dismiss', { method: 'POST' });
		expect(dismissed.status).toBe(200);
		expect(await dismissed.json()).toEqual({ dismissed: true });
		expect((await alertOf(userId)).dismissed_at).not.toBeNull();
		expect(await (await client.get('/dashboard')).text()).not.toContain(
			'Your credits are running low'
		);
		const again = await client.request('/api/credits/alert/dismiss', { method: 'POST' });
		expect(await again.json()).toEqual({ dismissed: false });
	});
});
