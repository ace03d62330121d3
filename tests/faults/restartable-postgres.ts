import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { startEmbeddedPostgres } from '../helpers/embedded-postgres';
import { postgresBinaries } from '../helpers/postgres-binaries';

const run = promisify(execFile);

export interface RestartablePostgres {
	/** Superuser URL of the `postgres` database. */
	url: string;
	/** Fast shutdown (SIGINT: open sessions are cut), keeping the data; resolves once it is down. */
	halt(): Promise<void>;
	/** Starts the server again on the same port and data; resolves once it accepts connections. */
	resume(): Promise<void>;
	/** Stops it for good and removes its data. */
	stop(): Promise<void>;
}

/**
 * A PostgreSQL of the test's own (embedded-postgres binaries, its own port and data folder) that
 * the test can stop and start again, as an outage or a failover would: the shared test server
 * cannot be stopped under the other suites. Started by the shared helper; stopped by signalling
 * its postmaster (pid from postmaster.pid) and started again with the same settings.
 */
export async function startRestartablePostgres(): Promise<RestartablePostgres> {
	const server = await startEmbeddedPostgres({ durable: false, override: 'TEST_DATABASE_URL' });
	const port = new URL(server.url).port;
	const admin = postgres(server.url, { max: 1, onnotice: () => {} });
	const [{ data_directory: dataDir }] = await admin`show data_directory`;
	await admin.end();
	const binaries = await postgresBinaries();
	const owner =
		process.getuid?.() === 0
			? {
					uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()),
					gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim())
				}
			: {};
	let restarted: ChildProcess | undefined;

	const halt = async () => {
		const pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
		process.kill(pid, 'SIGINT');
		for (let i = 0; i < 200 && alive(pid); i++) await sleep(50);
		if (alive(pid)) throw new Error(`PostgreSQL (pid ${pid}) did not stop within 10 s`);
	};
	const resume = async () => {
		// The same settings as tests/helpers/embedded-postgres.ts starts it with.
		restarted = spawn(
			binaries.postgres,
			[
				...['-D', dataDir, '-p', port, '-c', 'listen_addresses=127.0.0.1'],
				...['-c', 'unix_socket_directories=', '-c', 'max_connections=400'],
				...['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']
			],
			{ ...owner, env: { ...process.env, LC_MESSAGES: 'C' }, stdio: ['ignore', 'ignore', 'ignore'] }
		);
		restarted.on('error', () => {});
		const deadline = Date.now() + 30_000;
		for (;;) {
			const probe = postgres(server.url, { max: 1, connect_timeout: 2, onnotice: () => {} });
			try {
				await probe`select 1`;
				return;
			} catch (error) {
				if (Date.now() > deadline || restarted.exitCode !== null) throw error;
				await sleep(100);
			} finally {
				await probe.end({ timeout: 0 });
			}
		}
	};
	return {
		url: server.url,
		halt,
		resume,
		async stop() {
			if (restarted && restarted.exitCode === null) await halt();
			await server.stop();
		}
	};
}

function alive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
}
