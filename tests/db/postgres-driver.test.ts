import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../helpers/databases';

/**
 * postgres.js 3.4.9 flushes small writes from a setImmediate; when the connection closed in
 * between, that write dereferenced a null socket and threw where no caller could catch it, and
 * the process died (porsager/postgres#1154, #1208). A transaction whose backend is gone meets it
 * every time: its own ROLLBACK is that write. The app met it in tests/faults/database-outage
 * when PostgreSQL stopped under traffic. src/cli/patch-postgres.js guards the write on install;
 * this proves the installed driver survives, in a process of its own (the crash kills it).
 */
const SCRIPT = `
import postgres from 'postgres';
const url = process.env.TEST_URL;
const sql = postgres(url, { max: 1, onnotice: () => {} });
const killer = postgres(url, { max: 1 });
let pid = null;
const tx = sql.begin(async (t) => {
	const [row] = await t\`select pg_backend_pid() as pid\`;
	pid = row.pid;
	await t\`select pg_sleep(5)\`;
});
while (pid === null) await new Promise((resolve) => setTimeout(resolve, 10));
await killer\`select pg_terminate_backend(\${pid})\`;
const error = await tx.then(() => null, (e) => e);
console.log('transaction:', error?.code ?? error?.message ?? 'committed');
await new Promise((resolve) => setTimeout(resolve, 200));
const [{ answer }] = await sql\`select 42 as answer\`;
console.log('then:', answer);
await sql.end({ timeout: 1 });
await killer.end({ timeout: 1 });
`;

function runNode(env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
	return new Promise((resolve) => {
		const child = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT], {
			cwd: process.cwd(),
			env: { ...process.env, ...env }
		});
		let output = '';
		child.stdout.on('data', (chunk) => (output += chunk));
		child.stderr.on('data', (chunk) => (output += chunk));
		child.on('exit', (code) => resolve({ code, output }));
	});
}

describe('the postgres.js driver as installed', () => {
	let database: { url: string; drop(): Promise<void> };
	beforeAll(async () => {
		database = await createPostgresDatabase();
	});
	afterAll(async () => {
		await database?.drop();
	});

	it('survives a transaction whose backend is terminated, and its pool goes on', async () => {
		const { code, output } = await runNode({ TEST_URL: database.url });
		expect(output).not.toContain('TypeError');
		expect(output).toContain('then: 42');
		// The transaction fails with the driver's own error, which the app answers as unavailable.
		expect(output).toMatch(/transaction: (CONNECTION_CLOSED|57P01)/);
		expect(code).toBe(0);
	});
});
