import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { HttpClient, signUp, signUpAdmin } from '../helpers/http-client';

const tag = randomUUID().slice(0, 8);
const adminEmail = `boss.${tag}@example.com`;

describe('admin users API', () => {
	let app: AppServer;
	let sql: postgres.Sql;
	let admin: HttpClient;
	let adminId: string;
	let user: HttpClient;
	let userId: string;

	const postJson = (client: HttpClient, path: string, body: unknown, headers = {}) =>
		client.request(path, {
			method: 'POST',
			headers: { 'content-type': 'application/json', ...headers },
			body: JSON.stringify(body)
		});
	const balanceOf = async (id: string) =>
		(await (await admin.get(`/api/admin/users/${id}`)).json()).user.balance;

	beforeAll(async () => {
		app = await startAppServer({ SIGNUP_BONUS_CREDITS: '100' });
		sql = postgres(app.databaseUrl, { max: 1 });
		({ client: admin, userId: adminId } = await signUpAdmin(app, adminEmail, 'Boss'));
		({ client: user, userId } = await signUp(
			app.url,
			`Carol.Searchable_${tag}@example.com`,
			`Carol Zephyr ${tag}`
		));
	});

	afterAll(async () => {
		await sql?.end();
		await app?.stop();
	});

	it('refuses strangers (401) and non-admins (403) on every endpoint', async () => {
		const stranger = new HttpClient(app.url);
		const calls = [
			(c: HttpClient) => c.get('/api/admin/users'),
			(c: HttpClient) => c.get(`/api/admin/users/${userId}`),
			(c: HttpClient) =>
				postJson(c, `/api/admin/users/${userId}/credits`, {
					action: 'add',
					amount: 5,
					reason: 'x'
				}),
			(c: HttpClient) =>
				postJson(c, `/api/admin/users/${userId}/packages/${randomUUID()}/revoke`, { reason: 'x' }),
			(c: HttpClient) => postJson(c, `/api/admin/users/${userId}/ban`, { reason: 'x' }),
			(c: HttpClient) => postJson(c, `/api/admin/users/${userId}/unban`, { reason: 'x' })
		];
		for (const call of calls) {
			const anonymous = await call(stranger);
			expect(anonymous.status).toBe(401);
			expect((await anonymous.json()).error.code).toBeTypeOf('string');
			expect((await call(user)).status).toBe(403);
		}
		expect((await user.get(`/admin/users/${userId}`)).status).toBe(403);
	});

	it('finds users by any part of the email or name, any case, and pages', async () => {
		for (const q of [`searchable_${tag}`.toUpperCase(), `carol.search`, `zephyr ${tag}`]) {
			const page = await (await admin.get(`/api/admin/users?q=${encodeURIComponent(q)}`)).json();
			expect(
				page.items.map((u: { id: string }) => u.id),
				q
			).toEqual([userId]);
			expect(page.items[0]).toMatchObject({
				balance: 100,
				available: 100,
				reserved: 0,
				spent: 0,
				banned: false
			});
		}
		// `_` is a character, not a LIKE wildcard.
		const wild = await (
			await admin.get(`/api/admin/users?q=${encodeURIComponent('carol_searchable')}`)
		).json();
		expect(wild.items).toEqual([]);
		const first = await (await admin.get('/api/admin/users?limit=1')).json();
		expect(first.items).toHaveLength(1);
		const second = await (
			await admin.get(`/api/admin/users?limit=1&cursor=${encodeURIComponent(first.nextCursor)}`)
		).json();
		expect(second.items[0].id).not.toBe(first.items[0].id);
		const html = await (await admin.get(`/admin/users?q=nobody-${tag}`)).text();
		expect(html).toContain('No user matches');
	});

	it('answers 400 naming the field, and 404 for an unknown user', async () => {
		const cases: [string, unknown, string][] = [
			['credits', { action: 'add', amount: 5 }, 'reason'],
			['credits', { action: 'add', amount: 5, reason: '   ' }, 'reason'],
			['credits', { action: 'add', amount: 5, reason: 'x'.repeat(501) }, 'reason'],
			['credits', { action: 'add', amount: 1.5, reason: 'r' }, 'amount'],
			['credits', { action: 'add', amount: 0, reason: 'r' }, 'amount'],
			['credits', { action: 'double', amount: 1, reason: 'r' }, 'action'],
			['credits', { action: 'add', amount: 1, reason: 'r', expiresAt: '2027-02-30' }, 'expiresAt'],
			['credits', { action: 'add', amount: 1, reason: 'r', expiresAt: '2020-01-01' }, 'expiresAt'],
			['ban', {}, 'reason']
		];
		for (const [path, body, field] of cases) {
			const response = await postJson(admin, `/api/admin/users/${userId}/${path}`, body);
			expect(response.status, JSON.stringify(body)).toBe(400);
			expect((await response.json()).error.field).toBe(field);
		}
		const badKey = await postJson(
			admin,
			`/api/admin/users/${userId}/credits`,
			{ action: 'add', amount: 1, reason: 'r' },
			{ 'idempotency-key': 'has space' }
		);
		expect((await badKey.json()).error.field).toBe('Idempotency-Key');
		expect((await admin.get('/api/admin/users?q=' + 'a'.repeat(101))).status).toBe(400);
		expect((await admin.get(`/api/admin/users/nobody-${tag}`)).status).toBe(404);
		expect(
			(
				await postJson(admin, `/api/admin/users/nobody-${tag}/credits`, {
					action: 'add',
					amount: 1,
					reason: 'r'
				})
			).status
		).toBe(404);
		expect(await balanceOf(userId)).toBe(100);
	});

	it('add, subtract and set give exact balances, adjust rows with reason and actor, and audit rows', async () => {
		const steps = [
			{ action: 'add', amount: 50, expect: 150 },
			{ action: 'subtract', amount: 30, expect: 120 },
			{ action: 'set', amount: 75, expect: 75 }
		];
		for (const step of steps) {
			const response = await postJson(admin, `/api/admin/users/${userId}/credits`, {
				action: step.action,
				amount: step.amount,
				reason: `step ${step.action}`,
				...(step.action === 'add' ? { expiresAt: '2999-01-01' } : {})
			});
			expect(response.status).toBe(201);
			const body = await response.json();
			expect(body.replayed).toBe(false);
			expect(body.balance.balance).toBe(step.expect);
			expect(body.transactions.length).toBeGreaterThan(0);
			for (const row of body.transactions) {
				expect(row.type).toBe('adjust');
				expect(row.metadata).toMatchObject({
					reason: `step ${step.action}`,
					actor: { id: adminId, email: adminEmail }
				});
			}
		}
		const audit = await sql`select action, reason, balance_before, balance_after from admin_audit
			where target_user_id = ${userId} order by id`;
		expect(audit.map((a) => [a.action, a.balance_before, a.balance_after])).toEqual([
			['credits.add', 100, 150],
			['credits.subtract', 150, 120],
			['credits.set', 120, 75]
		]);
	});

	it('below zero is a 409 with nothing written', async () => {
		const rows = async () =>
			(await sql`select count(*)::int as n from credit_transaction where user_id = ${userId}`)[0].n;
		const audits = async () =>
			(await sql`select count(*)::int as n from admin_audit where target_user_id = ${userId}`)[0].n;
		const [before, auditBefore] = [await rows(), await audits()];
		const response = await postJson(admin, `/api/admin/users/${userId}/credits`, {
			action: 'subtract',
			amount: 76,
			reason: 'too much'
		});
		expect(response.status).toBe(409);
		expect((await response.json()).error.code).toBe('insufficient_credits');
		expect([await rows(), await audits()]).toEqual([before, auditBefore]);
		expect(await balanceOf(userId)).toBe(75);
	});

	it('the same Idempotency-Key writes once; another body with it is a 409', async () => {
		const key = { 'idempotency-key': `retry-${tag}` };
		const body = { action: 'add', amount: 5, reason: 'retry me' };
		const first = await postJson(admin, `/api/admin/users/${userId}/credits`, body, key);
		const second = await postJson(admin, `/api/admin/users/${userId}/credits`, body, key);
		expect([first.status, second.status]).toEqual([201, 201]);
		const [a, b] = [await first.json(), await second.json()];
		expect(b.replayed).toBe(true);
		expect(b.transactions).toEqual(a.transactions);
		expect(await balanceOf(userId)).toBe(80);
		const conflict = await postJson(
			admin,
			`/api/admin/users/${userId}/credits`,
			{ ...body, amount: 6 },
			key
		);
		expect(conflict.status).toBe(409);
		expect(await balanceOf(userId)).toBe(80);
	});

	it('revokes one package of that user, 404 for a package of someone else', async () => {
		const detail = await (await admin.get(`/api/admin/users/${userId}`)).json();
		expect(detail.chatCount).toBe(0);
		const pkg = detail.packages.find((p: { status: string }) => p.status === 'active');
		const ownPackages = await (await admin.get(`/api/admin/users/${adminId}`)).json();
		const foreign = await postJson(
			admin,
			`/api/admin/users/${userId}/packages/${ownPackages.packages[0].id}/revoke`,
			{ reason: 'wrong user' }
		);
		expect(foreign.status).toBe(404);
		const response = await postJson(admin, `/api/admin/users/${userId}/packages/${pkg.id}/revoke`, {
			reason: 'chargeback'
		});
		expect(response.status).toBe(201);
		const body = await response.json();
		expect(body.revoked).toBe(pkg.remainingCredits);
		expect(body.balance.balance).toBe(80 - pkg.remainingCredits);
		const after = await (await admin.get(`/api/admin/users/${userId}`)).json();
		expect(after.packages.find((p: { id: string }) => p.id === pkg.id).status).toBe('revoked');
	});

	it('bans and unbans with a reason, audited; an admin cannot ban themself', async () => {
		const self = await postJson(admin, `/api/admin/users/${adminId}/ban`, { reason: 'oops' });
		expect(self.status).toBe(400);
		expect(
			(await postJson(admin, `/api/admin/users/${userId}/ban`, { reason: 'spam' })).status
		).toBe(200);
		expect((await user.get('/api/credits')).status).toBe(401);
		expect((await (await admin.get(`/api/admin/users/${userId}`)).json()).user.banned).toBe(true);
		// The page's form action, without JavaScript.
		const unban = await admin.postForm(`/admin/users/${userId}?/unban`, { reason: 'appeal' });
		expect(unban.status).toBeLessThan(400);
		expect((await (await admin.get(`/api/admin/users/${userId}`)).json()).user.banned).toBe(false);
		const audit = await sql`select action, reason from admin_audit where target_user_id = ${userId}
			and action like 'user.%' order by id`;
		expect(audit.map((a) => [a.action, a.reason])).toEqual([
			['user.ban', 'spam'],
			['user.unban', 'appeal']
		]);
	});

	it('the adjust form previews before → after, then confirms once', async () => {
		const start = await balanceOf(userId);
		const preview = await admin.postForm(`/admin/users/${userId}?/adjust`, {
			action: 'add',
			amount: '10',
			reason: 'form',
			expiresAt: ''
		});
		const html = await preview.text();
		expect(html).toContain('data-testid="preview-after"');
		expect(await balanceOf(userId)).toBe(start);
		const key = /name="key" value="([^"]+)"/.exec(html)?.[1];
		expect(key).toBeTruthy();
		const fields = {
			action: 'add',
			amount: '10',
			reason: 'form',
			expiresAt: '',
			confirm: '1',
			key: key!
		};
		await admin.postForm(`/admin/users/${userId}?/adjust`, fields);
		await admin.postForm(`/admin/users/${userId}?/adjust`, fields);
		expect(await balanceOf(userId)).toBe(start + 10);
		const missing = await admin.postForm(`/admin/users/${userId}?/adjust`, {
			action: 'add',
			amount: '10',
			reason: ''
		});
		expect(missing.status).toBe(400);
	});
});
