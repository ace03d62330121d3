import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';

/** Runs one statement on its own short-lived connection to the server. */
async function runOnServer(serverUrl: string, statement: string): Promise<void> {
	const client = postgres(serverUrl, { max: 1, onnotice: () => {} });
	try {
		await client.unsafe(statement);
	} finally {
		await client.end();
	}
}

/**
 * Drops a database even while PostgreSQL's autovacuum works on it. `with (force)` must terminate
 * every backend in the database, and on PostgreSQL 15 a role without pg_signal_backend may not
 * terminate an autovacuum worker (42501). A plain `drop database` cancels autovacuum itself, so
 * that is the fallback, retried while the worker winds down.
 */
async function dropDatabase(serverUrl: string, name: string): Promise<void> {
	try {
		await runOnServer(serverUrl, `drop database if exists ${name} with (force)`);
		return;
	} catch (error) {
		if ((error as { code?: string }).code !== '42501') throw error;
	}
	for (let attempt = 1; ; attempt++) {
		try {
			await runOnServer(serverUrl, `drop database if exists ${name}`);
			return;
		} catch (error) {
			// 55006: "database is being accessed by other users"
			if ((error as { code?: string }).code !== '55006' || attempt === 20) throw error;
			await sleep(250);
		}
	}
}

/** Creates an empty database on the server; `drop()` removes it. */
export async function createScratchDatabase(
	serverUrl: string,
	prefix: string
): Promise<{ name: string; url: string; drop(): Promise<void> }> {
	const name = `${prefix}_${randomBytes(6).toString('hex')}`;
	await runOnServer(serverUrl, `create database ${name}`);
	const url = new URL(serverUrl);
	url.pathname = `/${name}`;
	return { name, url: url.toString(), drop: () => dropDatabase(serverUrl, name) };
}
