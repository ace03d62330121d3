import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grant, reserve, settle } from '../../src/lib/server/credits';
import { openDatabase, type Database } from '../../src/lib/server/db/client';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { HttpClient, signUp, signUpAdmin } from '../helpers/http-client';

interface Row {
	id: string;
	createdAt: string;
	userId: string;
	email: string;
	type: string;
	amount: number;
	model: string | null;
	totalTokens: number | null;
	description: string;
}

interface Totals {
	count: number;
	creditsIn: number;
	creditsOut: number;
	tokens: number;
}

describe('admin transactions explorer and its CSV export on the built app', () => {
	let app: AppServer;
	let sql: postgres.Sql;
	let database: Database;
	let admin: HttpClient;
	let alice: { client: HttpClient; userId: string };
	let bob: { client: HttpClient; userId: string };

	async function reply(
		userId: string,
		cost: number,
		model: string,
		description: string,
		now?: Date
	) {
		const key = `h:${userId}:${description}`;
		const hold = await reserve(database.db, { userId, upTo: cost, key, now });
		await settle(database.db, {
			holdId: hold.holdId,
			cost,
			description,
			metadata: {
				model,
				inputTokens: cost * 100,
				outputTokens: cost * 10,
				totalTokens: cost * 110,
				chatId: `chat-${description}`,
				messageId: 'm',
				aborted: false
			},
			now
		});
	}

	beforeAll(async () => {
		app = await startAppServer({
			SWEEP_INTERVAL_SECONDS: '0',
			SIGNUP_BONUS_CREDITS: '0'
		});
		sql = postgres(app.databaseUrl, { max: 1 });
		database = openDatabase({ url: app.databaseUrl, dataDir: null, maxConnections: 2 });
		admin = (await signUpAdmin(app, 'boss@example.com')).client;
		alice = await signUp(app.url, 'alice@example.com');
		bob = await signUp(app.url, 'bob@example.com');
		const day = (d: string) => new Date(`2026-11-${d}Z`);
		const pack = (userId: string, credits: number, key: string, now?: Date) =>
			grant(database.db, {
				userId,
				source: 'purchase',
				name: 'Pack',
				credits,
				expiresAt: null,
				key,
				now
			});
		// Days that are over (summed into the rollup) and today (summed live): totals need both.
		await pack(alice.userId, 500, 'a1', day('01T08:00:00'));
		await reply(alice.userId, 3, 'gpt-4o-mini', 'Reply one', day('02T10:00:00'));
		await reply(
			alice.userId,
			7,
			'gpt-4o',
			'=HYPERLINK("http://evil.example","x")',
			day('03T23:59:59')
		);
		await reply(alice.userId, 5, 'gpt-4o-mini', 'Reply three', day('04T00:00:00'));
		await pack(bob.userId, 200, 'b1', day('02T09:00:00'));
		await reply(bob.userId, 2, 'gpt-4o', 'Bob reply', day('03T12:00:00'));
		await reply(bob.userId, 11, 'gpt-4o-mini', '+Bob big reply', day('05T12:00:00'));
		await pack(bob.userId, 40, 'b2');
		await reply(alice.userId, 4, 'gpt-4o', 'Reply today');
		await reply(bob.userId, 1, 'gpt-4o-mini', 'Bob today');
	});
	afterAll(async () => {
		await database?.close();
		await sql?.end();
		await app?.stop();
	});

	const api = async (client: HttpClient, query: string) => {
		const response = await client.get(`/api/admin/transactions?${query}`);
		return { status: response.status, body: await response.json() };
	};

	/** Every row of a filter, page by page (2 per page), checking the keyset as it goes. */
	async function everything(query: string): Promise<{ rows: Row[]; totals: Totals }> {
		const rows: Row[] = [];
		let cursor: string | null = null;
		let totals: Totals | undefined;
		do {
			const paging: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
			const { status, body } = await api(admin, `${query}&limit=2${paging}`);
			expect(status).toBe(200);
			// Every page carries the totals of the whole filter, the same on each page.
			if (totals) expect(body.totals).toEqual(totals);
			totals = body.totals;
			rows.push(...body.items);
			cursor = body.nextCursor;
		} while (cursor);
		expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
		return { rows, totals: totals! };
	}

	/** The ledger's own rows for a WHERE clause, newest first: what paging must return exactly. */
	const ledgerIds = async (where: string) =>
		(
			await sql.unsafe(
				`select id::text as id from credit_transaction where ${where} order by created_at desc, id desc`
			)
		).map((r) => r.id);

	it('refuses strangers (401) and non-admins (403), on the API and the export', async () => {
		const stranger = new HttpClient(app.url);
		for (const path of ['/api/admin/transactions', '/api/admin/transactions/export']) {
			expect((await stranger.get(path)).status).toBe(401);
			expect((await alice.client.get(path)).status).toBe(403);
		}
		expect((await alice.client.get('/admin/transactions')).status).toBe(403);
	});

	it.each([
		['', 'true'],
		['type=usage', "type = 'usage'"],
		['type=usage,purchase', "type in ('usage', 'purchase')"],
		['type=purchase&type=usage', "type in ('usage', 'purchase')"],
		['model=gpt-4o', "metadata->>'model' = 'gpt-4o'"],
		[
			'from=2026-11-03&to=2026-11-04',
			"created_at >= '2026-11-03T00:00:00Z' and created_at < '2026-11-05T00:00:00Z'"
		],
		['min=-5&max=-2', 'amount between -5 and -2'],
		['min=1', 'amount >= 1'],
		[
			'type=usage&model=gpt-4o-mini&from=2026-11-01',
			"type = 'usage' and metadata->>'model' = 'gpt-4o-mini' and created_at >= '2026-11-01T00:00:00Z'"
		]
	])(
		'lists exactly the rows of ?%s, without gaps or duplicates, and totals equal their sum',
		async (query, where) => {
			const { rows, totals } = await everything(query);
			expect(rows.map((r) => r.id)).toEqual(await ledgerIds(where));
			expect(rows.length).toBeGreaterThan(0);
			expect(totals).toEqual({
				count: rows.length,
				creditsIn: rows.filter((r) => r.amount > 0).reduce((s, r) => s + r.amount, 0),
				creditsOut: rows.filter((r) => r.amount < 0).reduce((s, r) => s - r.amount, 0),
				tokens: rows.reduce((s, r) => s + (r.totalTokens ?? 0), 0)
			});
		}
	);

	it('filters by user id or exact email and carries the email on each row', async () => {
		const byId = await everything(`user=${alice.userId}`);
		const byEmail = await everything('user=ALICE@example.com');
		expect(byEmail).toEqual(byId);
		expect(byId.rows.map((r) => r.id)).toEqual(await ledgerIds(`user_id = '${alice.userId}'`));
		expect(new Set(byId.rows.map((r) => r.email))).toEqual(new Set(['alice@example.com']));
		expect(byId.totals).toMatchObject({
			count: 5,
			creditsIn: 500,
			creditsOut: 19,
			tokens: 19 * 110
		});
		const bobs = await everything(`user=bob@example.com&type=usage&max=-2`);
		expect(bobs.rows.map((r) => r.description)).toEqual(['+Bob big reply', 'Bob reply']);
		expect(bobs.totals).toEqual({ count: 2, creditsIn: 0, creditsOut: 13, tokens: 13 * 110 });
	});

	it('answers the documented item shape', async () => {
		const { body } = await api(admin, 'type=usage&model=gpt-4o&limit=1');
		expect(Object.keys(body.items[0]).sort()).toEqual(
			[
				'id',
				'createdAt',
				'userId',
				'email',
				'type',
				'amount',
				'balanceAfter',
				'description',
				'model',
				'inputTokens',
				'outputTokens',
				'totalTokens',
				'packageId',
				'chatId'
			].sort()
		);
		expect(body.items[0]).toMatchObject({ description: 'Reply today', totalTokens: 440 });
	});

	it.each([
		['type=usage,gift', 'type'],
		['min=5&max=-5', 'max'],
		['min=1.5', 'min'],
		['cursor=42', 'cursor'],
		['from=2026-02-30', 'from'],
		['to=2026-11-31', 'to'],
		['from=1999-12-31', 'from'],
		['from=2026-11-05&to=2026-11-04', 'to'],
		['limit=0', 'limit'],
		['user=nobody@example.com', 'user']
	])('refuses ?%s with a 400 naming %s, on the API and the export', async (query, field) => {
		const { status, body } = await api(admin, query);
		expect(status).toBe(400);
		expect(body.error).toMatchObject({ code: 'invalid_request', field });
		expect(body.error.message).toMatch(new RegExp(`^${field}: `));
		if (field !== 'limit' && field !== 'cursor') {
			const response = await admin.get(`/api/admin/transactions/export?${query}`);
			expect(response.status).toBe(400);
			expect((await response.json()).error.field).toBe(field);
		}
	});

	it('exports the filtered rows as CSV with the email column, formulas defused', async () => {
		const response = await admin.get('/api/admin/transactions/export?type=usage&min=-11&max=-3');
		expect(response.status).toBe(200);
		expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
		const lines = (await response.text()).trimEnd().split('\r\n');
		expect(lines[0]).toBe(
			'"time_utc","user_id","email","type","description","amount","balance_after","model","input_tokens","output_tokens","total_tokens","chat_id","package_id","transaction_id"'
		);
		const expected = await ledgerIds("type = 'usage' and amount between -11 and -3");
		expect(lines.slice(1).map((line) => line.split(',').at(-1)!.replaceAll('"', ''))).toEqual(
			expected
		);
		expect(lines.join('\n')).toContain(`"'=HYPERLINK(""http://evil.example"",""x"")"`);
		expect(lines.join('\n')).toContain(`"'+Bob big reply"`);
		expect(lines.join('\n')).toContain('"alice@example.com"');
		expect(lines.join('\n')).not.toContain('Bob today');
	});

	it('renders the page for an admin with totals, rows linking to users, and inline filter errors', async () => {
		const page = await (await admin.get('/admin/transactions?user=bob@example.com')).text();
		expect(page).toContain(`/admin/users/${bob.userId}`);
		expect(page).not.toContain(`/admin/users/${alice.userId}`);
		expect(page).toContain('/api/admin/transactions/export?user=bob%40example.com');
		const bad = await admin.get('/admin/transactions?min=9&max=1');
		expect(bad.status).toBe(200);
		expect(await bad.text()).toContain('max: must not be less than min');
		const none = await (await admin.get('/admin/transactions?model=no-such-model')).text();
		expect(none).toContain('No transactions match this filter.');
	});
});
