import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminAdjust } from '../../src/lib/server/admin/credits';
import { grant, reserve, settle } from '../../src/lib/server/credits';
import { openDatabase, type Database } from '../../src/lib/server/db/client';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { HttpClient, signUp, signUpAdmin } from '../helpers/http-client';
import { expectNoDrift } from '../helpers/ledger';
import { startPolarApiServer, type PolarApiServer } from '../helpers/polar-api-server';
import { newWebhookSecret, orderPaid, polarOrder, signDelivery } from '../helpers/polar-events';
import { createUser } from '../helpers/users';

const run = promisify(execFile);
const secret = newWebhookSecret();
const ADMIN_EMAIL = 'boss@example.com';
const DAY = 86_400_000;

/** Runs a CLI the way `npm run credits` does, against the test database. */
const cli = (script: string, args: string[], env: Record<string, string | undefined>) =>
	run(process.execPath, ['--import', 'tsx', script, ...args], {
		env: { ...process.env, ...env }
	}).then(
		(ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
		(error: { code: number; stdout: string; stderr: string }) => ({
			code: error.code,
			stdout: error.stdout,
			stderr: error.stderr
		})
	);

describe('admin overview, audit log, Process again and the credits CLI (built app)', () => {
	let app: AppServer;
	let polar: PolarApiServer;
	let sql: postgres.Sql;
	let database: Database;
	let admin: HttpClient;
	let adminId: string;
	let userA: { client: HttpClient; userId: string };
	let userB: { client: HttpClient; userId: string };
	let userC: string;
	/** The buyer of the failed delivery: no account when the order arrived. */
	const lateUserId = randomUUID();
	const lateOrderId = randomUUID();

	const post = (delivery: { body: string; headers: Record<string, string> }) =>
		fetch(`${app.url}/api/webhooks/polar`, {
			method: 'POST',
			headers: delivery.headers,
			body: delivery.body
		});

	/** Reserves and settles a reply of `credits` credits and `tokens` tokens. */
	const spend = async (userId: string, credits: number, tokens: number, now = new Date()) => {
		const hold = await reserve(database.db, { userId, upTo: credits, key: randomUUID(), now });
		await settle(database.db, {
			holdId: hold.holdId,
			cost: credits,
			metadata: { model: 'demo', totalTokens: tokens },
			now
		});
	};

	beforeAll(async () => {
		// Against the local Polar stand-in, so the reconcile form does real work.
		polar = await startPolarApiServer();
		app = await startAppServer({
			POLAR_ACCESS_TOKEN: polar.token,
			POLAR_API_URL: polar.url,
			POLAR_RECONCILE_INTERVAL_SECONDS: '0',
			POLAR_WEBHOOK_SECRET: secret
		});
		sql = postgres(app.databaseUrl, { max: 1 });
		database = openDatabase({ url: app.databaseUrl, dataDir: null, maxConnections: 2 });

		({ client: admin, userId: adminId } = await signUpAdmin(app, ADMIN_EMAIL));
		userA = await signUp(app.url, 'ann@example.com');
		userB = await signUp(app.url, 'bob@example.com');
		userC = await createUser(database.db, 'cid@example.com');

		// Sold today: a 1,000-credit purchase (A) and a 300-credit subscription cycle (B).
		const purchase = polarOrder({
			userId: userA.userId,
			product: { name: '1,000 credits', metadata: { credits: '1000' } }
		});
		const subscription = polarOrder({
			userId: userB.userId,
			product: { name: 'Monthly', metadata: { credits: '300' }, recurringInterval: 'month' },
			subscription: { periodStart: new Date(), periodEnd: new Date(Date.now() + 30 * DAY) }
		});
		for (const order of [purchase, subscription]) {
			const answer = await (await post(signDelivery(orderPaid(order), { secret }))).json();
			expect(answer.outcome).toBe('processed');
		}
		// Fails: the buyer has no account (yet).
		const late = polarOrder({
			id: lateOrderId,
			userId: lateUserId,
			product: { name: '500 credits', metadata: { credits: '500' } }
		});
		const failed = await (await post(signDelivery(orderPaid(late), { secret }))).json();
		expect(failed.outcome).toBe('failed');

		// Spent today: A 20 (drawn from the bonus and the purchase: two ledger rows, one reply)
		// and 5, B 7. Ten days ago: C 50 out of an admin grant of 200.
		await spend(userA.userId, 20, 20_000);
		await spend(userA.userId, 5, 5_000);
		await spend(userB.userId, 7, 7_000);
		const tenDaysAgo = new Date(Date.now() - 10 * DAY);
		await grant(database.db, {
			userId: userC,
			source: 'admin_grant',
			name: 'Old grant',
			credits: 200,
			expiresAt: null,
			key: randomUUID(),
			now: tenDaysAgo
		});
		await spend(userC, 50, 50_000, tenDaysAgo);
	});
	afterAll(async () => {
		await database?.close();
		await sql?.end();
		await app?.stop();
		await polar?.close();
	});

	it('GET /api/admin/overview: sold, spent, tokens, active users, failed webhooks per window', async () => {
		const [usageRows] = await sql`select count(*)::int as n from credit_transaction
			where type = 'usage' and user_id = ${userA.userId}`;
		expect(usageRows.n).toBe(3); // the 20-credit reply spans two packages

		const response = await admin.get('/api/admin/overview');
		expect(response.status).toBe(200);
		const overview = await response.json();
		expect(overview.windows.today).toEqual({
			sold: 1300,
			spent: 32,
			tokens: 32_000,
			activeUsers: 2,
			failedWebhooks: 1
		});
		expect(overview.windows.week).toEqual(overview.windows.today);
		expect(overview.windows.month).toEqual({
			sold: 1300,
			spent: 82,
			tokens: 82_000,
			activeUsers: 3,
			failedWebhooks: 1
		});
		expect(overview.days).toHaveLength(30);
		const today = new Date().toISOString().slice(0, 10);
		const tenDaysAgo = new Date(Date.now() - 10 * DAY).toISOString().slice(0, 10);
		// Granted today: three signup bonuses of 8 and the 1,300 sold.
		expect(overview.days[29]).toEqual({ date: today, granted: 1324, consumed: 32 });
		expect(overview.days[19]).toEqual({ date: tenDaysAgo, granted: 200, consumed: 50 });
		const quiet = overview.days.filter((_: unknown, i: number) => i !== 29 && i !== 19);
		expect(
			quiet.every((d: { granted: number; consumed: number }) => !d.granted && !d.consumed)
		).toBe(true);
		expect(overview.ledgerHealth).toBeNull();

		const html = await (await admin.get('/admin')).text();
		expect(html).toContain('data-testid="flow-chart"');
		expect(html).toMatch(/data-testid="sold-today"[^>]*>1,300</);
		expect(html).toContain('Not checked yet.');
		expect(html).toContain('href="/admin/webhooks"');
		// Reconciliation sits with the deliveries it makes up for.
		expect(await (await admin.get('/admin/webhooks')).text()).toContain('Reconcile orders');
	});

	it('keeps the overview for admins: 401 for strangers, 403 for users', async () => {
		expect((await fetch(`${app.url}/api/admin/overview`)).status).toBe(401);
		const forbidden = await userA.client.get('/api/admin/overview');
		expect(forbidden.status).toBe(403);
		expect((await forbidden.json()).error.code).toBe('forbidden');
		expect((await userA.client.postForm('/admin?/verify', {})).status).toBe(403);
		expect(await sql`select * from ledger_check`).toHaveLength(0);
	});

	it('"Verify the ledger now" stores the result the overview shows', async () => {
		const response = await admin.postForm('/admin?/verify', {});
		expect(response.status).toBe(200);
		const { ledgerHealth } = await (await admin.get('/api/admin/overview')).json();
		expect(ledgerHealth).toMatchObject({
			driftCount: 0,
			ranBy: ADMIN_EMAIL,
			users: 4,
			drifts: []
		});
		expect(Date.now() - Date.parse(ledgerHealth.ranAt)).toBeLessThan(60_000);
		expect(await (await admin.get('/admin')).text()).toContain('No drift');
	});

	it('Process again: a failed order grants once the buyer exists, exactly once', async () => {
		const [delivery] = await sql`select id, outcome from polar_webhook_delivery
			where order_id = ${lateOrderId}`;
		expect(delivery.outcome).toBe('failed');
		const page = await (await admin.get('/admin/webhooks?outcome=failed')).text();
		expect(page).toContain('Process again');

		// Refused for non-admins, and nothing changes.
		expect(
			(await userA.client.postForm('/admin/webhooks?/reprocess', { delivery: delivery.id })).status
		).toBe(403);

		// Still failing: the user does not exist yet; the error is kept, nothing is granted.
		const early = await admin.postForm('/admin/webhooks?/reprocess', { delivery: delivery.id });
		expect(early.status).toBe(200);
		expect(await early.text()).toContain('processed again: failed');

		await sql`insert into "user" (id, name, email, email_verified, role)
			values (${lateUserId}, 'Late', 'late@example.com', true, 'user')`;
		const again = await admin.postForm('/admin/webhooks?/reprocess', {
			delivery: delivery.id,
			reason: 'The buyer signed up'
		});
		expect(again.status).toBe(200);
		expect(await again.text()).toContain('processed again: processed');
		const [after] = await sql`select outcome, error from polar_webhook_delivery
			where id = ${delivery.id}`;
		expect(after).toEqual({ outcome: 'processed', error: null });

		// Twice: refused, still one package of 500.
		const twice = await admin.postForm('/admin/webhooks?/reprocess', { delivery: delivery.id });
		expect(twice.status).toBe(409);
		expect(await twice.text()).toContain('only failed deliveries can be processed again');
		const packages = await sql`select remaining_credits from credit_package
			where polar_order_id = ${lateOrderId}`;
		expect(packages).toEqual([{ remaining_credits: 500 }]);

		const audits = await sql`select actor_email, target_user_id, reason, balance_before,
			balance_after, details->>'outcome' as outcome from admin_audit
			where action = 'webhook.reprocess' order by id`;
		expect(audits).toEqual([
			expect.objectContaining({ actor_email: ADMIN_EMAIL, outcome: 'failed' }),
			{
				actor_email: ADMIN_EMAIL,
				target_user_id: lateUserId,
				reason: 'The buyer signed up',
				balance_before: 0,
				balance_after: 500,
				outcome: 'processed'
			}
		]);
		await expectNoDrift(database.db, lateUserId);
	});

	it('Process again keeps the order-id idempotency: an order granted meanwhile is not granted twice', async () => {
		const buyer = await signUp(app.url, 'dora@example.com');
		const order = polarOrder({ userId: buyer.userId, product: { metadata: { credits: '40' } } });
		// The first delivery failed (simulated: its product had no credits yet), then a second
		// delivery of the same order under another webhook-id granted it.
		const first = signDelivery(orderPaid(order), { secret });
		expect((await (await post(first)).json()).outcome).toBe('processed');
		const webhookId = first.headers['webhook-id'];
		await sql`update polar_webhook_delivery set outcome = 'failed', error = 'simulated'
			where webhook_id = ${webhookId}`;
		const [row] = await sql`select id from polar_webhook_delivery where webhook_id = ${webhookId}`;
		const response = await admin.postForm('/admin/webhooks?/reprocess', { delivery: row.id });
		expect(response.status).toBe(200);
		const [after] =
			await sql`select outcome, error from polar_webhook_delivery where id = ${row.id}`;
		expect(after).toEqual({
			outcome: 'ignored',
			error: 'This order already has its credit package.'
		});
		const packages = await sql`select 1 from credit_package where polar_order_id = ${order.id}`;
		expect(packages).toHaveLength(1);

		// Bad form input: 400 inline, nothing written.
		const auditCount = async () =>
			(await sql`select count(*)::int as n from admin_audit`)[0].n as number;
		const before = await auditCount();
		expect((await admin.postForm('/admin/webhooks?/reprocess', { delivery: 'abc' })).status).toBe(
			400
		);
		expect(
			(await admin.postForm('/admin/webhooks?/reprocess', { delivery: '999999' })).status
		).toBe(404);
		expect(await auditCount()).toBe(before);
	});

	it('npm run credits -- adjust: through adminAdjust, audited as cli', async () => {
		const env = { DATABASE_URL: app.databaseUrl };
		const added = await cli(
			'src/cli/credits.ts',
			['adjust', 'ann@example.com', 'add', '50', '--reason', 'Goodwill', '--days', '30'],
			env
		);
		expect(added.stderr).toBe('');
		expect(added.code).toBe(0);
		// 8 + 1000 - 25 = 983 before.
		expect(added.stdout).toContain('balance 983 → 1033 (+50)');
		const set = await cli(
			'src/cli/credits.ts',
			['adjust', 'ANN@example.com', 'set', '1000', '--reason', 'Round number'],
			env
		);
		expect(set.code).toBe(0);
		expect(set.stdout).toContain('balance 1033 → 1000 (-33)');

		const rows = await sql`select actor_id, action, target_user_id, reason, balance_before,
			balance_after from admin_audit where actor_id = 'cli' order by id`;
		expect(rows).toEqual([
			{
				actor_id: 'cli',
				action: 'credits.add',
				target_user_id: userA.userId,
				reason: 'Goodwill',
				balance_before: 983,
				balance_after: 1033
			},
			{
				actor_id: 'cli',
				action: 'credits.set',
				target_user_id: userA.userId,
				reason: 'Round number',
				balance_before: 1033,
				balance_after: 1000
			}
		]);
		const [pkg] = await sql`select expires_at from credit_package
			where user_id = ${userA.userId} and source = 'admin_grant'`;
		expect(Math.abs(pkg.expires_at.getTime() - (Date.now() + 30 * DAY))).toBeLessThan(120_000);
		await expectNoDrift(database.db, userA.userId);
	});

	it('the credits CLI answers bad arguments with usage and exit 2, never a stack trace', async () => {
		const env = { DATABASE_URL: app.databaseUrl };
		// Each run starts a tsx process (~3 s on a busy machine): one case per kind of mistake.
		const cases = [
			['adjust', 'ann@example.com', 'add', '5', '--reason', 'x', '--bogus'],
			['adjust', 'ann@example.com', 'multiply', '5', '--reason', 'x'],
			['adjust', 'ann@example.com', 'add', '5'],
			['frobnicate']
		];
		const before = await sql`select count(*)::int as n from credit_transaction`;
		for (const args of cases) {
			const result = await cli('src/cli/credits.ts', args, env);
			expect(result.code, args.join(' ')).toBe(2);
			expect(result.stderr).toContain('Usage: npm run credits');
			expect(result.stderr).not.toMatch(/\n\s+at /);
			expect(result.stdout).toBe('');
		}
		expect(await sql`select count(*)::int as n from credit_transaction`).toEqual(before);

		const unknown = await cli(
			'src/cli/credits.ts',
			['adjust', 'nobody@example.com', 'add', '5', '--reason', 'x'],
			env
		);
		expect(unknown.code).toBe(1);
		expect(unknown.stderr).toContain('No user has the email nobody@example.com');
		// Five process starts: generous on a loaded machine (a load of 11 took over 30 s).
	}, 150_000);

	it('GET /api/admin/audit: admins only, filters, keyset pages, 400 naming the field', async () => {
		expect((await fetch(`${app.url}/api/admin/audit`)).status).toBe(401);
		expect((await userA.client.get('/api/admin/audit')).status).toBe(403);

		// A few more actions by the admin on B, for paging.
		for (let i = 1; i <= 5; i++) {
			await adminAdjust(database.db, {
				actor: { id: adminId, email: ADMIN_EMAIL },
				userId: userB.userId,
				action: 'add',
				amount: i,
				reason: `Paging ${i}`,
				key: randomUUID()
			});
		}
		const all = await (await admin.get('/api/admin/audit?limit=100')).json();
		// 3 reprocess runs (failed, processed, ignored), 2 CLI adjustments, 5 here.
		expect(all.items).toHaveLength(10);
		expect(all.nextCursor).toBeNull();
		expect(all.items[0]).toMatchObject({
			actor: { id: adminId, email: ADMIN_EMAIL },
			action: 'credits.add',
			target: { id: userB.userId, email: 'bob@example.com' },
			reason: 'Paging 5',
			// B: bonus 8 + 300 subscribed - 7 spent + 1 + 2 + 3 + 4, then + 5.
			balanceBefore: 311,
			balanceAfter: 316
		});
		expect(Number.isNaN(Date.parse(all.items[0].createdAt))).toBe(false);

		// Keyset pages of 3: every row once, newest first.
		const seen: string[] = [];
		let cursor: string | null = null;
		do {
			const query: string = cursor ? `&cursor=${cursor}` : '';
			const page = await (await admin.get(`/api/admin/audit?limit=3${query}`)).json();
			expect(page.items.length).toBeLessThanOrEqual(3);
			seen.push(...page.items.map((item: { id: string }) => item.id));
			cursor = page.nextCursor;
		} while (cursor);
		expect(seen).toEqual(all.items.map((item: { id: string }) => item.id));

		const byCli = await (await admin.get('/api/admin/audit?admin=cli')).json();
		expect(byCli.items.map((i: { action: string }) => i.action)).toEqual([
			'credits.set',
			'credits.add'
		]);
		const byEmail = await (await admin.get(`/api/admin/audit?admin=${ADMIN_EMAIL}`)).json();
		expect(byEmail.items).toHaveLength(8);
		const onBob = await (await admin.get('/api/admin/audit?user=BOB@example.com')).json();
		expect(onBob.items).toHaveLength(5);
		const both = await (await admin.get(`/api/admin/audit?admin=cli&user=${userB.userId}`)).json();
		expect(both).toEqual({ items: [], nextCursor: null });
		const nobody = await (await admin.get('/api/admin/audit?user=nobody@example.com')).json();
		expect(nobody.items).toEqual([]);

		for (const [query, field] of [
			['limit=0', 'limit'],
			['limit=101', 'limit'],
			['limit=abc', 'limit'],
			['cursor=abc', 'cursor'],
			['cursor=-1', 'cursor'],
			['cursor=99999999999999999999', 'cursor'],
			[`admin=${'x'.repeat(400)}`, 'admin']
		]) {
			const response = await admin.get(`/api/admin/audit?${query}`);
			expect(response.status, query).toBe(400);
			const body = await response.json();
			expect(body.error.code).toBe('invalid_request');
			expect(body.error.field).toBe(field);
			expect(body.error.message).toMatch(new RegExp(`^${field}: `));
		}
	});

	it('/admin/audit: a GET form, a table, next page and an empty state', async () => {
		const html = await (await admin.get('/admin/audit')).text();
		expect(html).toContain('data-testid="audit-table"');
		expect(html).toContain('The buyer signed up');
		expect(html).toContain('Goodwill');
		const paged = await (await admin.get('/admin/audit?limit=2')).text();
		expect(paged).toMatch(/href="\/admin\/audit\?limit=2&amp;cursor=\d+"/);
		const empty = await (await admin.get('/admin/audit?user=nobody@example.com')).text();
		expect(empty).toContain('No admin actions match these filters.');
		const bad = await (await admin.get('/admin/audit?cursor=abc')).text();
		expect(bad).toContain('cursor: must be a nextCursor value from a previous page');
		expect((await userA.client.get('/admin/audit')).status).toBe(403);
		expect(
			(await userA.client.get('/admin/audit/__data.json?x-sveltekit-invalidated=01')).status
		).toBe(403);
	});

	it('the reconcile form action writes a polar.reconcile audit row', async () => {
		const response = await admin.postForm('/admin/webhooks?/reconcile', { days: '3' });
		expect(response.status).toBe(200);
		expect(await response.text()).toContain('paid orders of the last 3 days');
		const rows = await sql`select actor_email, reason, details->>'checked' as checked
			from admin_audit where action = 'polar.reconcile'`;
		expect(rows).toEqual([
			{
				actor_email: ADMIN_EMAIL,
				reason: 'Reconcile Polar orders of the last 3 days',
				checked: '0'
			}
		]);
		expect((await userA.client.postForm('/admin/webhooks?/reconcile', { days: '3' })).status).toBe(
			403
		);
	});

	it('the CLIs say when the embedded database is in use by a running server', async () => {
		const dataDir = mkdtempSync(join(tmpdir(), 'credit-chat-lock-'));
		const env = { DATABASE_URL: '', DATA_DIR: dataDir };
		const holder = execFile(
			process.execPath,
			[
				'--import',
				'tsx',
				'--input-type=module',
				'-e',
				`const { openDatabase } = await import(${JSON.stringify(
					`${process.cwd()}/src/lib/server/db/client.ts`
				)});
				const database = openDatabase({ dataDir: ${JSON.stringify(`${dataDir}/pglite`)} });
				await database.migrate('drizzle');
				console.log('open');
				setTimeout(() => database.close(), 60000);`
			],
			{ env: { ...process.env, ...env } }
		);
		try {
			await new Promise<void>((resolve, reject) => {
				holder.stdout?.on('data', (chunk: Buffer) => chunk.includes('open') && resolve());
				holder.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
			});
			const result = await cli('src/cli/credits.ts', ['verify'], env);
			expect(result.code).toBe(1);
			expect(result.stderr).toContain('The embedded database is in use by a running server');
			expect(result.stderr).toContain(`pid ${holder.pid}`);
			expect(result.stderr).toContain('stop it or set DATABASE_URL');
			expect(result.stderr).not.toMatch(/\n\s+at /);
		} finally {
			holder.kill('SIGKILL');
			await new Promise((resolve) => setTimeout(resolve, 200));
		}
		// A lock left by a process that died is taken over.
		const after = await cli('src/cli/credits.ts', ['verify'], env);
		expect(after.stdout).toContain('no drift');
		expect(after.code).toBe(0);
		rmSync(dataDir, { recursive: true, force: true });
	}, 60_000);
});
