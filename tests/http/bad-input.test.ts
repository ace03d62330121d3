import { request as httpRequest } from 'node:http';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { HttpClient, signUp } from '../helpers/http-client';

/** Raw HTTP, because fetch always sends a Content-Length for a buffer and never lies about it. */
function rawRequest(
	url: string,
	options: { method?: string; headers?: Record<string, string>; body?: Buffer; chunked?: boolean }
): Promise<{
	status: number;
	headers: Record<string, string | string[] | undefined>;
	body: string;
}> {
	return new Promise((resolve, reject) => {
		const target = new URL(url);
		const headers = { ...options.headers };
		if (options.body && !options.chunked) headers['content-length'] = String(options.body.length);
		if (options.chunked) headers['transfer-encoding'] = 'chunked';
		const request = httpRequest(
			{
				host: target.hostname,
				port: target.port,
				path: target.pathname + target.search,
				method: options.method ?? 'POST',
				headers
			},
			(response) => {
				let body = '';
				response.setEncoding('utf8');
				response.on('data', (chunk) => (body += chunk));
				response.on('end', () =>
					resolve({ status: response.statusCode!, headers: response.headers, body })
				);
				response.on('error', reject);
			}
		);
		// The server may answer before reading the whole body and close; that is not a failure.
		request.on('error', (error) => {
			if ((error as NodeJS.ErrnoException).code !== 'EPIPE') reject(error);
		});
		if (options.body) {
			for (let at = 0; at < options.body.length; at += 64 * 1024) {
				request.write(options.body.subarray(at, at + 64 * 1024));
			}
		}
		request.end();
	});
}

const TABLES = [
	'user',
	'credit_transaction',
	'credit_hold',
	'chat',
	'chat_message',
	'polar_webhook_delivery'
] as const;

describe('client mistakes answer 4xx and write nothing (issue 9)', () => {
	let app: AppServer;
	let sql: postgres.Sql;
	let user: { client: HttpClient; userId: string };

	const counts = async () => {
		const result: Record<string, number> = {};
		for (const table of TABLES) {
			result[table] = Number((await sql`select count(*) from ${sql(table)}`)[0].count);
		}
		return result;
	};

	beforeAll(async () => {
		app = await startAppServer({ SWEEP_INTERVAL_SECONDS: '0' });
		sql = postgres(app.databaseUrl, { max: 1, onnotice: () => {} });
		user = await signUp(app.url, 'input@example.com');
	});
	afterAll(async () => {
		await sql?.end();
		await app?.stop();
	});

	describe('history dates and cursors that JavaScript parses and PostgreSQL refuses', () => {
		it.each([
			['cursor=2026-02-30T00:00:00.000000Z_5', 'cursor', 'nextCursor'],
			['cursor=2026-11-01T24:00:00.000000Z_5', 'cursor', 'nextCursor'],
			['cursor=2026-11-01T09:30:00.000000Z_99999999999999999', 'cursor', 'nextCursor'],
			['from=0000-01-01', 'from', '2000-01-01 to 2999-12-31'],
			['from=2026-01-01&to=9999-12-31', 'to', '2000-01-01 to 2999-12-31'],
			['to=2026-02-29', 'to', 'real calendar date']
		])('GET /api/credits/transactions?%s is a 400 naming %s', async (query, field, words) => {
			const before = await counts();
			const response = await user.client.get(`/api/credits/transactions?${query}`);
			expect(response.status).toBe(400);
			const body = await response.json();
			expect(body.error).toMatchObject({ code: 'invalid_request', field });
			expect(body.error.message).toContain(words);
			expect(await counts()).toEqual(before);
		});

		it('shows the dashboard with the filter error instead of a failed history', async () => {
			for (const query of ['from=0000-01-01', 'from=2026-01-01&to=9999-12-31']) {
				const page = await user.client.get(`/dashboard/credits?${query}`);
				expect(page.status).toBe(200);
				const html = await page.text();
				expect(html).toContain('2000-01-01 to 2999-12-31');
				expect(html).toContain('Showing the unfiltered history instead.');
				expect(html).not.toContain('could not be loaded');
			}
			const cursor = await user.client.get(
				'/dashboard/credits?cursor=2026-02-30T00:00:00.000000Z_5'
			);
			expect(cursor.status).toBe(200);
			expect(await cursor.text()).toContain('Page: must be a nextCursor value');
			const data = await user.client.get('/dashboard/credits/__data.json?from=0000-01-01');
			expect(data.status).toBe(200);
			expect(await data.text()).toContain('Showing the unfiltered history instead.');
			expect(app.output()).not.toContain('credits dashboard section failed');
		});

		it('refuses the same dates on the CSV export with a 400 before any row is sent', async () => {
			for (const query of ['from=0000-01-01', 'from=2026-01-01&to=9999-12-31']) {
				const response = await user.client.get(`/dashboard/credits/export?${query}`);
				expect(response.status).toBe(400);
				expect(await response.text()).toContain('2000-01-01 to 2999-12-31');
			}
		});
	});

	describe('request bodies over BODY_SIZE_LIMIT (512 KB) are a 413 everywhere', () => {
		const oversized = Buffer.from(
			new URLSearchParams({
				name: 'Big',
				email: 'big@example.com',
				password: 'correct horse',
				padding: 'a'.repeat(600 * 1024)
			}).toString()
		);
		const bigJson = Buffer.from(
			JSON.stringify({ id: 'big', model: 'demo', message: 'x', padding: 'a'.repeat(600 * 1024) })
		);

		it.each([false, true])(
			'sign-up form (chunked: %s): a 413 page, no account',
			async (chunked) => {
				const before = await counts();
				const response = await rawRequest(`${app.url}/signup`, {
					headers: {
						'content-type': 'application/x-www-form-urlencoded',
						accept: 'text/html',
						origin: app.url
					},
					body: oversized,
					chunked
				});
				expect(response.status).toBe(413);
				expect(response.headers['content-type']).toContain('text/html');
				expect(response.body).toContain('larger than the 512 KB this server accepts');
				expect(await counts()).toEqual(before);
			}
		);

		it('an enhanced form action (Accept: application/json) gets an ActionResult error', async () => {
			const response = await rawRequest(`${app.url}/signup`, {
				headers: {
					'content-type': 'application/x-www-form-urlencoded',
					accept: 'application/json',
					origin: app.url
				},
				body: oversized
			});
			expect(response.status).toBe(413);
			expect(JSON.parse(response.body)).toMatchObject({
				type: 'error',
				error: { message: expect.stringContaining('512 KB') }
			});
		});

		it.each([
			['/api/chat', false],
			['/api/chat', true],
			['/api/webhooks/polar', false],
			['/api/webhooks/polar', true],
			['/api/auth/sign-up/email', true]
		])('%s (chunked: %s): JSON payload_too_large', async (path, chunked) => {
			const before = await counts();
			const cookie = user.client.cookieHeader();
			const response = await rawRequest(app.url + path, {
				headers: { 'content-type': 'application/json', origin: app.url, cookie },
				body: bigJson,
				chunked
			});
			expect(response.status).toBe(413);
			expect(JSON.parse(response.body)).toEqual({
				error: {
					code: 'payload_too_large',
					message: expect.stringContaining('512 KB'),
					limit: 512 * 1024
				}
			});
			expect(await counts()).toEqual(before);
		});

		it('lets a body just under the limit through to the route', async () => {
			const response = await rawRequest(`${app.url}/api/webhooks/polar`, {
				headers: { 'content-type': 'application/json' },
				body: Buffer.from(JSON.stringify({ padding: 'a'.repeat(500 * 1024) })),
				chunked: true
			});
			expect(response.status).toBe(403);
		});
	});

	describe('form actions and pages with bodies or ids they cannot use', () => {
		it('answers 400 for a body that is not a form, on sign-up and chat rename', async () => {
			const before = await counts();
			const garbage = await rawRequest(`${app.url}/signup`, {
				headers: { 'content-type': 'multipart/form-data; boundary=x', origin: app.url },
				body: Buffer.from('garbage')
			});
			expect(garbage.status).toBe(400);
			const plain = await user.client.request('/dashboard/chat/some-chat?/rename', {
				method: 'POST',
				headers: { 'content-type': 'text/plain', accept: 'application/json' },
				body: 'title=x'
			});
			expect(plain.status).toBe(400);
			expect(await plain.json()).toMatchObject({
				type: 'error',
				error: { message: expect.stringContaining('could not be read') }
			});
			expect(await counts()).toEqual(before);
		});

		it('answers 404 for chat ids no chat can have, instead of a database error', async () => {
			for (const id of ['%00', 'abc%00def', 'a%20b', 'x'.repeat(65)]) {
				expect((await user.client.get(`/dashboard/chat/${id}`)).status).toBe(404);
				const rename = await user.client.postForm(`/dashboard/chat/${id}?/rename`, { title: 'x' });
				expect(rename.status).toBe(404);
				const remove = await user.client.postForm(`/dashboard/chat/${id}?/delete`, {});
				expect(remove.status).toBe(404);
			}
		});

		it('refuses NUL characters in forms and JSON, which PostgreSQL text cannot hold', async () => {
			const before = await counts();
			const rename = await user.client.postForm('/dashboard/chat/some-chat?/rename', {
				title: 'a\u0000b'
			});
			expect(rename.status).toBe(400);
			const signup = await new HttpClient(app.url).postForm('/signup', {
				name: 'N\u0000L',
				email: 'nul@example.com',
				password: 'correct horse'
			});
			expect(signup.status).toBe(400);
			const chat = await user.client.request('/api/chat', {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body: JSON.stringify({
					id: 'nul-chat',
					model: 'demo',
					message: { id: 'm1', role: 'user', parts: [{ type: 'text', text: 'hi\u0000' }] },
					messages: [{ id: 'm1', role: 'user', parts: [{ type: 'text', text: 'hi\u0000' }] }]
				})
			});
			expect(chat.status).toBe(400);
			expect((await chat.json()).error.message).toContain('NUL');
			expect(await counts()).toEqual(before);
		});

		it('refuses an out-of-range delivery cursor on the admin webhooks page', async () => {
			const admin = await signUp(app.url, 'input-admin@example.com');
			await sql`update "user" set role = 'admin' where id = ${admin.userId}`;
			const ok = await admin.client.get('/admin/webhooks');
			expect(ok.status).toBe(200);
			const huge = await admin.client.get('/admin/webhooks?cursor=99999999999999999999');
			expect(huge.status).toBe(400);
		});
	});

	describe('CSV export failing after its 200', () => {
		it('ends the file with an error line naming the request id, and logs why', async () => {
			// Renaming the ledger table makes the export's first page query fail, after the
			// response (200, header line) has been committed: a real database error, no mock.
			await sql`alter table credit_transaction rename to credit_transaction_away`;
			let response: Response;
			let text: string;
			try {
				response = await user.client.get('/dashboard/credits/export');
				text = await response.text();
			} finally {
				await sql`alter table credit_transaction_away rename to credit_transaction`;
			}
			expect(response.status).toBe(200);
			const requestId = response.headers.get('x-request-id');
			expect(requestId).toBeTruthy();
			const lines = text.trimEnd().split('\r\n');
			expect(lines[0]).toMatch(/^"time_utc","type",/);
			expect(lines.at(-1)).toBe(
				`# export failed: the history could not be read to the end, so this file is incomplete; request id ${requestId}`
			);
			await expect.poll(() => app.output()).toContain(`[${requestId}] credits export failed`);
			// And it works again once the database does.
			const again = await user.client.get('/dashboard/credits/export');
			expect(await again.text()).not.toContain('# export failed');
		});
	});
});
