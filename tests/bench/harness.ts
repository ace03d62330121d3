import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { startEmbeddedPostgres } from '../helpers/embedded-postgres';
import { createScratchDatabase } from '../helpers/scratch-database';
import { TestDependencyError } from '../helpers/test-dependency-error';

/**
 * What every benchmark script shares: a PostgreSQL to run on, a fresh database, undo steps run
 * at the end (also after an error or Ctrl-C), and the exit code.
 */

const cleanups: (() => Promise<void>)[] = [];

/** Set by Ctrl-C: no new operation starts, and the run unwinds through the normal cleanup. */
export const interrupted = new AbortController();

/** Registers an undo step; steps run newest first at the end. */
export function onCleanup(step: () => Promise<void>): void {
	cleanups.push(step);
}

export function checkInterrupted(): void {
	if (interrupted.signal.aborted) throw new Error('interrupted');
}

/** A superuser URL: BENCH_DATABASE_URL, or a throw-away durable PostgreSQL started here. */
export async function openServer(): Promise<{ url: string; source: string }> {
	const given = process.env.BENCH_DATABASE_URL;
	if (given) return { url: given, source: `BENCH_DATABASE_URL (${new URL(given).host})` };
	const started = performance.now();
	// Durable = PostgreSQL's default fsync and synchronous_commit, as in production: every commit
	// waits for its WAL flush.
	const server = await startEmbeddedPostgres({ durable: true, override: 'BENCH_DATABASE_URL' });
	onCleanup(() => server.stop());
	const ms = Math.round(performance.now() - started);
	return { url: server.url, source: `embedded-postgres, durable (started in ${ms} ms)` };
}

/** A fresh database on the server, dropped at the end. */
export async function createDatabase(serverUrl: string): Promise<string> {
	const database = await createScratchDatabase(serverUrl, 'cc_bench');
	onCleanup(database.drop);
	return database.url;
}

/**
 * Runs a benchmark's main function and exits with its code: 1 on an error (`describeFailure`
 * may add context), 130 after Ctrl-C. Ctrl-C must not leave a server or a database behind; a
 * second Ctrl-C (the handler is registered once) or a cleanup stuck for 15 s exits at once.
 */
export async function runBenchmark(
	main: () => Promise<number>,
	options: { inFlight: string; describeFailure?: () => string }
): Promise<void> {
	for (const signal of ['SIGINT', 'SIGTERM'] as const) {
		process.once(signal, () => {
			console.error(`\n${signal}: finishing the ${options.inFlight} in flight, then cleaning up`);
			interrupted.abort();
			setTimeout(() => process.exit(130), 15_000).unref();
		});
	}
	try {
		process.exitCode = await main();
	} catch (error) {
		// After Ctrl-C, errors from operations cut short are expected, not worth a stack trace.
		if (error instanceof TestDependencyError) {
			// PostgreSQL did not start: its one line says what to do, nothing ran to add context to.
			console.error(error.message);
		} else if (!interrupted.signal.aborted) {
			console.error(error);
			const context = options.describeFailure?.().trim();
			if (context) console.error(`\n${context}`);
		}
		process.exitCode = interrupted.signal.aborted ? 130 : 1;
	} finally {
		for (let step = cleanups.pop(); step; step = cleanups.pop()) {
			try {
				await step();
			} catch (error) {
				console.error('cleanup failed:', error);
			}
		}
	}
}

/** A positive whole number from the environment, or undefined when unset; anything else throws. */
export function positiveInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
	const value = env[name];
	if (value === undefined || value === '') return undefined;
	if (!/^[1-9]\d*$/.test(value)) {
		throw new Error(`${name} must be a positive integer, got "${value}".`);
	}
	return Number(value);
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
	return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Builds the app when there is no build yet; an existing one is used as it is. */
export async function ensureBuild(): Promise<void> {
	if (existsSync('build/index.js')) return;
	console.log('build/index.js is missing: running `vite build` first (or run `npm run build`)');
	const child = spawn(process.execPath, ['node_modules/vite/bin/vite.js', 'build'], {
		stdio: ['ignore', 'inherit', 'inherit']
	});
	const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
	if (code !== 0 || !existsSync('build/index.js')) {
		throw new Error(`vite build failed (exit ${code}): run \`npm run build\` and read its errors`);
	}
}
