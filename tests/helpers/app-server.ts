import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createPostgresDatabase } from './databases';
import { freePort } from './ports';

export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123';

export interface AppServer extends LaunchedApp {
	/** The app's database, for assertions the HTTP surface cannot make. */
	databaseUrl: string;
}

/**
 * Starts the built app (`node build`, as production runs it) on a random port against a fresh
 * database on the test PostgreSQL server, and waits until it answers.
 */
export async function startAppServer(
	env: Record<string, string> = {},
	options: LaunchOptions = {}
): Promise<AppServer> {
	const database = await createPostgresDatabase();
	try {
		const app = await launchApp({ DATABASE_URL: database.url, ...env }, options);
		return {
			...app,
			databaseUrl: database.url,
			async stop() {
				await app.stop();
				await database.drop();
			}
		};
	} catch (error) {
		await database.drop();
		throw error;
	}
}

export interface LaunchOptions {
	/**
	 * Run `src/cluster.js` (what `npm start` runs: a primary forking WEB_CONCURRENCY workers)
	 * instead of `build/index.js`; `pid` is then the primary's.
	 */
	cluster?: boolean;
	/** With `cluster`: how many workers must say they listen before it counts as started (1). */
	workers?: number;
}

export interface LaunchedApp {
	url: string;
	pid: number;
	/** Everything the server printed so far. */
	output(): string;
	/** Resolves with the exit code (or signal) when the server process ends. */
	exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
	stop(): Promise<void>;
}

/**
 * Starts the built app on a free port with these variables (DATABASE_URL among them) and waits
 * until it answers. A free port can be taken by another app starting at the same moment, which
 * then answers our health checks; so the child itself must report listening, and a lost race
 * is retried.
 */
export async function launchApp(
	env: Record<string, string>,
	options: LaunchOptions = {}
): Promise<LaunchedApp> {
	if (!existsSync('build/index.js')) {
		throw new Error('build/index.js is missing: run `npm run build` first (`npm test` does).');
	}
	for (let attempt = 1; ; attempt++) {
		const port = await freePort();
		const url = `http://127.0.0.1:${port}`;
		const child = spawnApp(
			{
				PORT: String(port),
				HOST: '127.0.0.1',
				ORIGIN: url,
				BETTER_AUTH_SECRET: TEST_SECRET,
				// Production refuses to serve the demo model unless told; most suites chat with it.
				DEMO_MODEL: 'on',
				// Suites sign many users up from one address; tests/security/ sets real limits.
				AUTH_RATE_PER_MINUTE: '0',
				CHAT_RATE_PER_MINUTE: '0',
				...env
			},
			options.cluster ? 'src/cluster.js' : 'build/index.js'
		);
		let output = '';
		child.stdout?.on('data', (chunk) => (output += chunk));
		child.stderr?.on('data', (chunk) => (output += chunk));
		try {
			await waitUntilListening(url, child, () => output, options.workers ?? 1);
		} catch (error) {
			child.kill('SIGKILL');
			if (output.includes('EADDRINUSE') && attempt < 5) continue;
			throw error;
		}
		const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
			(resolve) => {
				if (child.exitCode !== null || child.signalCode !== null) {
					resolve({ code: child.exitCode, signal: child.signalCode });
				} else child.once('exit', (code, signal) => resolve({ code, signal }));
			}
		);
		return {
			url,
			pid: child.pid!,
			output: () => output,
			exited,
			stop: () => stopProcess(child)
		};
	}
}

/** Runs `node build` (or `entry`) with these variables on top of a minimal environment. */
export function spawnApp(env: Record<string, string>, entry = 'build/index.js'): ChildProcess {
	return spawn(process.execPath, [entry], {
		env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...env },
		stdio: ['ignore', 'pipe', 'pipe']
	});
}

/**
 * Waits until this child says it listens (adapter-node prints it; each cluster worker does) as
 * many times as `listeners`, and answers /api/health.
 */
async function waitUntilListening(
	url: string,
	child: ChildProcess,
	output: () => string,
	listeners: number
) {
	const deadline = Date.now() + 60_000;
	let healthy = false;
	while (Date.now() < deadline) {
		if (child.exitCode !== null) {
			throw new Error(`The app exited with ${child.exitCode} before answering:\n${output()}`);
		}
		const listening = output().split(`Listening on ${url}`).length - 1;
		if (listening === 0) {
			await new Promise((resolve) => setTimeout(resolve, 50));
			continue;
		}
		healthy ||= await fetch(`${url}/api/health`).then(
			(response) => response.ok,
			() => false // not listening yet
		);
		if (healthy && listening >= listeners) return;
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
	throw new Error(`The app did not answer within 60 s:\n${output()}`);
}

/** Sends `signal` and waits for the child to exit (SIGKILL after 5 s); resolves at once if it has. */
export function stopProcess(
	child: ChildProcess,
	signal: NodeJS.Signals = 'SIGTERM'
): Promise<void> {
	if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
	return new Promise((resolve) => {
		const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
		child.once('exit', () => {
			clearTimeout(timer);
			resolve();
		});
		child.kill(signal);
	});
}
