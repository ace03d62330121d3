import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grant } from '../../src/lib/server/credits';
import { openDatabase, type Database } from '../../src/lib/server/db/client';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { signUp } from '../helpers/http-client';

const run = promisify(execFile);

describe('credits API and CLI on the built app', () => {
	let app: AppServer;
	let sql: postgres.Sql;
	let database: Database;

	beforeAll(async () => {
		app = await startAppServer({ SWEEP_INTERVAL_SECONDS: '1' });
		sql = postgres(app.databaseUrl, { max: 1 });
		database = openDatabase({ url: app.databaseUrl, dataDir: null, maxConnections: 2 });
	});
	afterAll(async () => {
		await database?.close();
		await sql?.end();
		await app?.stop();
	});

	/** Runs `npm run credits -- …` against the app's database; never throws. */
	const cli = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
		run(process.execPath, ['--import', 'tsx', 'src/cli/credits.ts', ...args], {
			env: { ...process.env, DATABASE_URL: app.databaseUrl }
		}).then(
			(ok) => ({ code: 0, ...ok }),
			(error) => error
		);

	const ledgerRows = async () =>
		Number((await sql`select count(*) from credit_transaction`)[0].count);

	it('gives every new user the signup bonus, visible in the API', async () => {
		const { client, userId } = await signUp(app.url, 'bonus@example.com');
		const response = await client.get('/api/credits');
		expect(response.status).toBe(200);
		const body = await response.json();
		expect(body).toMatchObject({ userId, balance: 8, reserved: 0, available: 8 });
		expect(body.packages).toEqual([
			{
				id: expect.any(String),
				source: 'signup_bonus',
				name: 'Welcome bonus',
				initialCredits: 8,
				remainingCredits: 8,
				status: 'active',
				expiresAt: expect.any(String),
				createdAt: expect.any(String)
			}
		]);
		const days =
			(Date.parse(body.packages[0].expiresAt) - Date.parse(body.packages[0].createdAt)) /
			86_400_000;
		expect(days).toBeCloseTo(30, 5);

		const history = await (await client.get('/api/credits/transactions')).json();
		expect(history).toEqual({
			items: [
				{
					id: expect.any(String),
					type: 'bonus',
					amount: 8,
					balanceAfter: 8,
					packageId: body.packages[0].id,
					description: 'Signup bonus',
					metadata: {},
					createdAt: expect.any(String)
				}
			],
			nextCursor: null
		});
	});

	it('answers signed-out clients with a JSON 401', async () => {
		for (const path of ['/api/credits', '/api/credits/transactions']) {
			const response = await fetch(app.url + path);
			expect(response.status).toBe(401);
			expect((await response.json()).error.code).toBe('unauthorized');
		}
	});

	it.each([
		['limit=0', 'limit'],
		['limit=101', 'limit'],
		['limit=abc', 'limit'],
		['limit=2.5', 'limit'],
		['type=gift', 'type'],
		['type=usage,,bonus', 'type'],
		['cursor=-1', 'cursor'],
		['cursor=abc', 'cursor']
	])('refuses ?%s with a 400 naming the field', async (query, field) => {
		const { client } = await signUp(
			app.url,
			`bad-${field}-${query.length}-${Math.random()}@example.com`
		);
		const before = await ledgerRows();
		const response = await client.get(`/api/credits/transactions?${query}`);
		expect(response.status).toBe(400);
		const body = await response.json();
		expect(body.error).toMatchObject({ code: 'invalid_request', field });
		expect(body.error.message).toEqual(expect.stringContaining(field));
		expect(await ledgerRows()).toBe(before);
	});

	it('pages through history newest first, filters by type, and shows only the caller’s rows', async () => {
		const { client, userId } = await signUp(app.url, 'pages@example.com');
		const { userId: otherId } = await signUp(app.url, 'other@example.com');
		for (let i = 0; i < 3; i++) {
			await grant(database.db, {
				userId,
				source: 'purchase',
				name: `Pack ${i}`,
				credits: 10 * (i + 1),
				expiresAt: null,
				key: `http-pages-${i}`
			});
		}
		await grant(database.db, {
			userId: otherId,
			source: 'purchase',
			name: 'Theirs',
			credits: 5,
			expiresAt: null,
			key: 'http-other'
		});

		const seen: number[] = [];
		let cursor: string | null = null;
		do {
			const query: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
			const page = await (await client.get(`/api/credits/transactions${query}`)).json();
			seen.push(...page.items.map((item: { amount: number }) => item.amount));
			cursor = page.nextCursor;
		} while (cursor);
		expect(seen).toEqual([30, 20, 10, 8]);

		const bonusOnly = await (await client.get('/api/credits/transactions?type=bonus')).json();
		expect(bonusOnly.items.map((i: { type: string }) => i.type)).toEqual(['bonus']);
		const both = await (
			await client.get('/api/credits/transactions?type=bonus,purchase&limit=100')
		).json();
		expect(both.items).toHaveLength(4);
		expect((await (await client.get('/api/credits')).json()).balance).toBe(68);
	});

	it('sweeps expired packages inside the server', async () => {
		const { client, userId } = await signUp(app.url, 'expiry@example.com');
		const now = new Date();
		await grant(database.db, {
			userId,
			source: 'purchase',
			name: 'Short-lived',
			credits: 5,
			expiresAt: new Date(now.getTime() + 500),
			key: 'http-short-lived',
			now
		});
		let types: string[] = [];
		for (let i = 0; i < 60 && !types.includes('expire'); i++) {
			await new Promise((resolve) => setTimeout(resolve, 250));
			const page = await (await client.get('/api/credits/transactions')).json();
			types = page.items.map((item: { type: string }) => item.type);
		}
		expect(types).toEqual(['expire', 'purchase', 'bonus']);
		const view = await (await client.get('/api/credits')).json();
		expect(view.balance).toBe(8);
		expect(view.packages.map((p: { status: string }) => p.status)).toEqual(['active', 'expired']);
	});

	it('npm run credits: balance, grant with a reason, history and verify', async () => {
		await signUp(app.url, 'cli@example.com');
		const refused = await cli('grant', 'cli@example.com', '100', '--days', '10');
		expect(refused.code).toBe(1);
		expect(refused.stderr).toContain('--reason');

		const granted = await cli(
			'grant',
			'CLI@example.com',
			'100',
			'--days',
			'10',
			'--reason',
			'Support ticket 42'
		);
		expect(granted.stdout).toContain(
			'Granted 100 credits (expire in 10 days); balance is now 108.'
		);

		const balance = await cli('balance', 'cli@example.com');
		expect(balance.stdout).toContain('balance 108   reserved 0   available 108');
		expect(balance.stdout).toContain('admin_grant');

		const history = await cli('history', 'cli@example.com', '--limit', '1');
		expect(history.stdout).toContain('Support ticket 42');
		expect(history.stdout).not.toContain('Signup bonus');

		const unknown = await cli('balance', 'nobody@example.com');
		expect(unknown.code).toBe(1);
		expect(unknown.stderr).toContain('No user has the email nobody@example.com');

		const clean = await cli('verify');
		expect(clean.stdout).toMatch(/Checked \d+ users, \d+ packages, \d+ ledger rows: no drift\./);

		await sql`update credit_package set remaining_credits = remaining_credits - 1 where source = 'admin_grant'`;
		const drift = await cli('verify');
		expect(drift.code).toBe(1);
		expect(drift.stdout).toContain('1 drift(s).');
		expect(drift.stdout).toContain('remaining_credits differs from the sum of its ledger rows');
		await sql`update credit_package set remaining_credits = remaining_credits + 1 where source = 'admin_grant'`;
		// Several CLI process starts: generous on a loaded machine (a load of 11 took over 30 s).
	}, 150_000);
});
