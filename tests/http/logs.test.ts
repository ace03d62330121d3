// The built app logs JSON lines (pino) on stdout: one access line per request carrying the
// request id the response returned, and never the query string or cookies.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer, type AppServer } from '../helpers/app-server';

/** Every line of the output that is a JSON object. */
function jsonLines(output: string): Record<string, unknown>[] {
	return output.split('\n').flatMap((line) => {
		if (!line.startsWith('{')) return [];
		try {
			return [JSON.parse(line) as Record<string, unknown>];
		} catch {
			return [];
		}
	});
}

describe('JSON logs with the request id', () => {
	let app: AppServer;
	beforeAll(async () => {
		app = await startAppServer({ SWEEP_INTERVAL_SECONDS: '0' });
	});
	afterAll(async () => {
		await app?.stop();
	});

	it('writes one access line per request with the id the response returned', async () => {
		const secret = `secret-${randomUUID()}`;
		const response = await fetch(`${app.url}/api/health?token=${secret}`, {
			headers: { cookie: `better-auth.session_token=${secret}` }
		});
		expect(response.status).toBe(200);
		const requestId = response.headers.get('x-request-id');
		expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
		await expect
			.poll(() => jsonLines(app.output()).filter((line) => line.requestId === requestId))
			.toHaveLength(1);
		const [line] = jsonLines(app.output()).filter((entry) => entry.requestId === requestId);
		expect(line).toMatchObject({
			level: 'info',
			msg: 'request',
			method: 'GET',
			route: '/api/health',
			status: 200,
			requestId
		});
		expect(typeof line.durationMs).toBe('number');
		expect(Date.parse(String(line.time))).not.toBeNaN();
		expect(app.output()).not.toContain(secret);
	});

	it("keeps a proxy's request id, and logs a refused request too", async () => {
		const requestId = `proxy-${randomUUID()}`;
		const response = await fetch(`${app.url}/api/credits`, {
			headers: { 'x-request-id': requestId }
		});
		expect(response.status).toBe(401);
		expect(response.headers.get('x-request-id')).toBe(requestId);
		await expect
			.poll(() => jsonLines(app.output()).find((line) => line.requestId === requestId))
			.toMatchObject({ msg: 'request', route: '/api/credits', status: 401 });
	});

	it('writes the startup messages as JSON lines too', () => {
		// No ADMIN_EMAILS and no SMTP_URL: runtime.ts says so once.
		expect(jsonLines(app.output())).toContainEqual(
			expect.objectContaining({
				level: 'warn',
				msg: expect.stringContaining('SMTP_URL is not set')
			})
		);
	});
});
