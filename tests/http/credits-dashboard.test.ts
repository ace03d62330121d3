import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grant, reserve, settle } from '../../src/lib/server/credits';
import { openDatabase, type Database } from '../../src/lib/server/db/client';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { HttpClient, signUp } from '../helpers/http-client';

describe('credits dashboard, transactions filters and CSV export on the built app', () => {
	let app: AppServer;
	let sql: postgres.Sql;
	let database: Database;
	let owner: { client: HttpClient; userId: string };
	let other: { client: HttpClient; userId: string };

	async function reply(
		userId: string,
		cost: number,
		description: string,
		now: Date,
		chatId: string
	) {
		const hold = await reserve(database.db, {
			userId,
			upTo: cost,
			key: `h:${description}:${now.getTime()}`,
			now
		});
		await settle(database.db, {
			holdId: hold.holdId,
			cost,
			description,
			metadata: {
				model: 'gpt-4o-mini',
				inputTokens: 700,
				outputTokens: 300,
				totalTokens: 1000,
				chatId,
				messageId: 'm',
				aborted: false
			},
			now
		});
	}

	beforeAll(async () => {
		app = await startAppServer({ SWEEP_INTERVAL_SECONDS: '0', SIGNUP_BONUS_CREDITS: '0' });
		sql = postgres(app.databaseUrl, { max: 1 });
		database = openDatabase({ url: app.databaseUrl, dataDir: null, maxConnections: 2 });
		owner = await signUp(app.url, 'owner@example.com');
		other = await signUp(app.url, 'other@example.com');
		await grant(database.db, {
			userId: owner.userId,
			source: 'purchase',
			name: 'Pack',
			credits: 100,
			expiresAt: null,
			key: 'pack-owner',
			now: new Date('2026-11-01T08:00:00Z')
		});
		await reply(
			owner.userId,
			3,
			'Reply in "Trip plans"',
			new Date('2026-11-03T10:00:00Z'),
			'chat-1'
		);
		await reply(
			owner.userId,
			2,
			'=HYPERLINK("http://evil.example","click")',
			new Date('2026-11-05T23:59:59Z'),
			'chat-2'
		);
		await reply(owner.userId, 4, 'Later reply', new Date('2026-11-06T00:00:00Z'), 'chat-3');
		// chat-1 and chat-2 still exist; chat-3 was deleted (its replies stay in the ledger).
		await sql`insert into chat (id, user_id, title, model) values
			('chat-1', ${owner.userId}, 'Trip plans', 'gpt-4o-mini'),
			('chat-2', ${owner.userId}, 'Spreadsheet', 'gpt-4o-mini')`;
		await grant(database.db, {
			userId: other.userId,
			source: 'purchase',
			name: 'Theirs',
			credits: 50,
			expiresAt: null,
			key: 'pack-other',
			now: new Date('2026-11-04T08:00:00Z')
		});
		await reply(other.userId, 1, 'Their secret reply', new Date('2026-11-04T09:00:00Z'), 'chat-x');
	});
	afterAll(async () => {
		await database?.close();
		await sql?.end();
		await app?.stop();
	});

	const api = async (client: HttpClient, query: string) => {
		const response = await client.get(`/api/credits/transactions?${query}`);
		return { status: response.status, body: await response.json() };
	};

	it('filters the transactions API by type and by UTC days, both ends included', async () => {
		const all = await api(owner.client, '');
		expect(all.body.items.map((i: { amount: number }) => i.amount)).toEqual([-4, -2, -3, 100]);
		const usage = await api(owner.client, 'type=usage&from=2026-11-04&to=2026-11-05');
		expect(usage.status).toBe(200);
		expect(usage.body.items.map((i: { description: string }) => i.description)).toEqual([
			'=HYPERLINK("http://evil.example","click")'
		]);
		const range = await api(owner.client, 'from=2026-11-01&to=2026-11-03&limit=1');
		expect(range.body.items.map((i: { amount: number }) => i.amount)).toEqual([-3]);
		const next = await api(
			owner.client,
			`from=2026-11-01&to=2026-11-03&limit=1&cursor=${encodeURIComponent(range.body.nextCursor)}`
		);
		expect(next.body).toMatchObject({
			items: [{ amount: 100, type: 'purchase' }],
			nextCursor: null
		});
		const theirs = await api(other.client, 'type=usage');
		expect(theirs.body.items.map((i: { description: string }) => i.description)).toEqual([
			'Their secret reply'
		]);
	});

	it.each([
		['from=2026-02-30', 'from'],
		['from=yesterday', 'from'],
		['to=2026-11-31', 'to'],
		['from=2026-11-05&to=2026-11-04', 'to'],
		['cursor=42', 'cursor'],
		['type=usage,gift', 'type']
	])('refuses ?%s with a 400 naming %s', async (query, field) => {
		const { status, body } = await api(owner.client, query);
		expect(status).toBe(400);
		expect(body.error).toMatchObject({ code: 'invalid_request', field });
		expect(body.error.message).toContain(field);
	});

	it('exports the filtered history as CSV, formulas defused, only the owner’s rows', async () => {
		const response = await owner.client.get('/dashboard/credits/export?type=usage&to=2026-11-05');
		expect(response.status).toBe(200);
		expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
		expect(response.headers.get('content-disposition')).toMatch(
			/^attachment; filename="credit-history-\d{4}-\d\d-\d\d\.csv"$/
		);
		const lines = (await response.text()).split('\r\n');
		expect(lines).toEqual([
			'"time_utc","type","description","amount","balance_after","model","input_tokens","output_tokens","chat_id","package_id","transaction_id"',
			expect.stringMatching(
				/^"2026-11-05T23:59:59\.000Z","usage","'=HYPERLINK\(""http:\/\/evil\.example"",""click""\)",-2,95,"gpt-4o-mini",700,300,"chat-2","[0-9a-f-]{36}","\d+"$/
			),
			expect.stringMatching(
				/^"2026-11-03T10:00:00\.000Z","usage","Reply in ""Trip plans""",-3,97,"gpt-4o-mini",700,300,"chat-1",/
			),
			''
		]);

		const everything = await (await owner.client.get('/dashboard/credits/export')).text();
		expect(everything.split('\r\n')).toHaveLength(1 + 4 + 1);
		expect(everything).not.toContain('Their secret reply');
	});

	it('sends signed-out visitors of the export to the login page, and refuses a bad filter', async () => {
		const signedOut = await fetch(`${app.url}/dashboard/credits/export`, { redirect: 'manual' });
		expect(signedOut.status).toBe(303);
		expect(signedOut.headers.get('location')).toBe(
			'/login?redirectTo=%2Fdashboard%2Fcredits%2Fexport'
		);
		const bad = await owner.client.get('/dashboard/credits/export?from=2026-13-01');
		expect(bad.status).toBe(400);
	});

	it('renders the dashboard without JavaScript, with the filter from the URL', async () => {
		const response = await owner.client.get('/dashboard/credits?type=usage&from=2026-11-04');
		expect(response.status).toBe(200);
		const html = await response.text();
		expect(html).toContain('Available credits');
		expect(html).toContain('Never expires');
		expect(html).toContain('href="/dashboard/chat/chat-2"');
		// A deleted chat is named as such, not linked to a 404.
		expect(html).not.toContain('href="/dashboard/chat/chat-3"');
		expect(html).toContain('chat deleted');
		expect(html).not.toContain('href="/dashboard/chat/chat-1"');
		expect(html).toContain('href="/dashboard/credits/export?type=usage&amp;from=2026-11-04"');

		const bad = await (await owner.client.get('/dashboard/credits?from=nonsense')).text();
		expect(bad).toContain(
			'From: must be a date like 2026-11-30. Showing the unfiltered history instead.'
		);
		expect(bad).toContain('href="/dashboard/chat/chat-1"');
	});
});
