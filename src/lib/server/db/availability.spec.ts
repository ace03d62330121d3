import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable, retryWhileUnavailable } from './availability';

/** A port nothing listens on: taken from the OS, then released. */
async function closedPort(): Promise<number> {
	const server = createServer();
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	await new Promise<void>((resolve) => server.close(() => resolve()));
	return port;
}

/** The error a real postgres.js (through drizzle, as the app uses it) raises for this server. */
async function driverError(url: string): Promise<unknown> {
	const client = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
	try {
		await drizzle(client).execute(sql`select 1`);
		return undefined;
	} catch (error) {
		return error;
	} finally {
		await client.end({ timeout: 0 });
	}
}

describe('isDatabaseUnavailable', () => {
	it('recognises a refused connection as postgres.js and drizzle raise it', async () => {
		const error = await driverError(`postgres://u:p@127.0.0.1:${await closedPort()}/db`);
		expect(error).toBeInstanceOf(Error);
		expect(isDatabaseUnavailable(error)).toBe(true);
	});

	it.each([
		['08006', 'connection_failure'],
		['08001', 'sqlclient_unable_to_establish_sqlconnection'],
		['57P01', 'admin_shutdown (pg_terminate_backend)'],
		['57P02', 'crash_shutdown'],
		['57P03', 'cannot_connect_now'],
		['53300', 'too_many_connections']
	])('recognises SQLSTATE %s (%s), also wrapped', (code) => {
		const driver = Object.assign(new Error('server says no'), { code, severity: 'FATAL' });
		expect(isDatabaseUnavailable(driver)).toBe(true);
		expect(isDatabaseUnavailable(new Error('Failed query', { cause: driver }))).toBe(true);
	});

	it.each(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT'])(
		'recognises postgres.js %s',
		(code) => {
			expect(isDatabaseUnavailable(Object.assign(new Error(code), { code }))).toBe(true);
		}
	);

	it('recognises a refusal inside an AggregateError (several addresses tried)', () => {
		const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
		expect(isDatabaseUnavailable(new AggregateError([refused]))).toBe(true);
	});

	it.each([
		['a syntax error', Object.assign(new Error('syntax'), { code: '42601' })],
		['a unique violation', Object.assign(new Error('dup'), { code: '23505' })],
		['a serialization failure', Object.assign(new Error('retry'), { code: '40001' })],
		['a plain error', new Error('boom')],
		['a string', 'ECONNREFUSED'],
		['nothing', undefined]
	])('does not take %s for an outage', (_, error) => {
		expect(isDatabaseUnavailable(error)).toBe(false);
	});

	it('survives a cause cycle', () => {
		const a = new Error('a');
		const b = new Error('b', { cause: a });
		(a as { cause?: unknown }).cause = b;
		expect(isDatabaseUnavailable(a)).toBe(false);
	});
});

describe('retryWhileUnavailable', () => {
	const outage = () => Object.assign(new Error('terminated'), { code: '57P01' });

	it('retries while the database is unreachable, then returns the answer', async () => {
		let calls = 0;
		const result = await retryWhileUnavailable(
			async () => {
				calls++;
				if (calls < 3) throw outage();
				return 'settled';
			},
			{ timeoutMs: 5_000, firstDelayMs: 1 }
		);
		expect(result).toBe('settled');
		expect(calls).toBe(3);
	});

	it('does not retry any other error', async () => {
		let calls = 0;
		const conflict = Object.assign(new Error('conflict'), { code: '23505' });
		await expect(
			retryWhileUnavailable(
				async () => {
					calls++;
					throw conflict;
				},
				{ timeoutMs: 5_000, firstDelayMs: 1 }
			)
		).rejects.toBe(conflict);
		expect(calls).toBe(1);
	});

	it('gives up with the last outage error at the deadline', async () => {
		let calls = 0;
		await expect(
			retryWhileUnavailable(
				async () => {
					calls++;
					throw outage();
				},
				{ timeoutMs: 50, firstDelayMs: 5, maxDelayMs: 5 }
			)
		).rejects.toMatchObject({ code: '57P01' });
		expect(calls).toBeGreaterThan(1);
	});
});
