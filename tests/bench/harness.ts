import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type postgres from 'postgres';
import { startEmbeddedPostgres } from '../helpers/embedded-postgres';
import type { HttpClient } from '../helpers/http-client';
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

const DAY_MS = 86_400_000;

/**
 * Bulk-inserts the history: the heavy user's purchase of 10M credits a year ago, then usage rows
 * every ~30 s until a minute ago (three models), then a subscription expiring in 10 days; and
 * `users - 1` others (`bench-user-<n>`) with `rowsPerUser` rows each, interleaved in time.
 * balance_after is exact. Shared by bench:dashboard and bench:load; the heavy user must exist.
 */
export async function seedLedgerHistory(
	sql: postgres.Sql,
	heavyId: string,
	config: { heavyRows: number; users: number; rowsPerUser: number }
): Promise<void> {
	const started = performance.now();
	const now = Date.now();
	const t0 = new Date(now - 365 * DAY_MS);
	const usageRows = config.heavyRows - 2;
	const stepMs = Math.floor((365 * DAY_MS - 120_000) / usageRows);
	const spent = (n: number) => n + 10 * Math.floor(n / 5) + ((n % 5) * ((n % 5) + 1)) / 2;
	const initial = 10_000_000;
	const afterUsage = initial - spent(usageRows);
	const subscriptionAt = new Date(now - 60_000);

	await sql.begin(async (tx) => {
		await tx`
			insert into credit_package (id, user_id, source, name, initial_credits, remaining_credits, created_at)
			values (gen_random_uuid(), ${heavyId}, 'purchase', 'Bench pack', ${initial}, ${afterUsage}, ${t0})`;
		await tx`
			insert into credit_package (id, user_id, source, name, initial_credits, remaining_credits, expires_at, created_at)
			values (gen_random_uuid(), ${heavyId}, 'subscription', 'Bench monthly', 5000, 5000,
				${new Date(now + 10 * DAY_MS)}, ${subscriptionAt})`;
		await tx`
			insert into "user" (id, name, email, email_verified, role, created_at, updated_at)
			select 'bench-user-' || u, 'Bench ' || u, 'bench-' || u || '@bench.example.com', false, 'user', ${t0}, ${t0}
			from generate_series(1, ${config.users - 1}) u`;
		await tx`
			insert into credit_package (id, user_id, source, name, initial_credits, remaining_credits, created_at)
			select gen_random_uuid(), 'bench-user-' || u, 'purchase', 'Bench pack', 100000,
				100000 - 3 * (${config.rowsPerUser} - 1), ${t0}
			from generate_series(1, ${config.users - 1}) u`;
		// Every row of the run in time order, so the heavy user's rows lie among everyone else's on
		// disk as they would in production.
		await tx`
			with heavy_pkg as (select id from credit_package where user_id = ${heavyId} and name = 'Bench pack'),
			other_pkg as (select user_id, id from credit_package where user_id like 'bench-user-%'),
			heavy as (
				select ${heavyId}::text as user_id, (select id from heavy_pkg) as package_id,
					'usage' as type, -(1 + i % 5) as amount,
					${initial}::int - (i + 10 * (i / 5) + (i % 5) * (i % 5 + 1) / 2) as balance_after,
					'Reply' as description,
					jsonb_build_object(
						'model', (array['gpt-4o-mini', 'gpt-4o', 'llama3.1:8b'])[1 + i % 3],
						'inputTokens', 400 + i % 500, 'outputTokens', 200 + i % 300,
						'totalTokens', 600 + i % 500 + i % 300,
						'chatId', 'bench-chat-' || (i / 20), 'messageId', 'bench-msg-' || i, 'aborted', false
					) as metadata,
					'bench:heavy:' || i as key,
					${t0}::timestamptz + (i * ${stepMs}::bigint) * interval '1 millisecond' as created_at
				from generate_series(1, ${usageRows}) i
			),
			others as (
				select p.user_id, p.id as package_id,
					case when n = 0 then 'purchase' else 'usage' end as type,
					case when n = 0 then 100000 else -3 end as amount,
					100000 - 3 * n as balance_after,
					case when n = 0 then 'Bench pack' else 'Reply' end as description,
					case when n = 0 then '{}'::jsonb else jsonb_build_object('model', 'gpt-4o-mini',
						'inputTokens', 1000, 'outputTokens', 500, 'totalTokens', 1500, 'chatId', 'c', 'messageId', 'm',
						'aborted', false) end as metadata,
					'bench:' || p.user_id || ':' || n as key,
					${t0}::timestamptz + interval '1 second'
						+ (n * ${Math.floor((365 * DAY_MS - 120_000) / config.rowsPerUser)}::bigint) * interval '1 millisecond'
						+ (substr(p.user_id, 12)::int * interval '1 second') as created_at
				from other_pkg p, generate_series(0, ${config.rowsPerUser - 1}) n
			),
			everything as (
				select ${heavyId}::text as user_id, (select id from heavy_pkg) as package_id, 'purchase' as type,
					${initial}::int as amount, ${initial}::int as balance_after, 'Bench pack' as description,
					'{}'::jsonb as metadata, 'bench:heavy:0' as key, ${t0}::timestamptz as created_at
				union all select * from heavy
				union all select * from others
			)
			insert into credit_transaction
				(user_id, package_id, type, amount, balance_after, description, metadata, idempotency_key, created_at)
			select user_id, package_id, type, amount, balance_after, description, metadata, key, created_at
			from everything order by created_at`;
		await tx`
			insert into credit_transaction
				(user_id, package_id, type, amount, balance_after, description, metadata, idempotency_key, created_at)
			select ${heavyId}, id, 'subscription', 5000, ${afterUsage + 5000}, 'Bench monthly', '{}', 'bench:heavy:sub', ${subscriptionAt}
			from credit_package where user_id = ${heavyId} and name = 'Bench monthly'`;
		await tx`insert into credit_account (user_id) select 'bench-user-' || u from generate_series(1, ${config.users - 1}) u on conflict do nothing`;
	});
	await sql`vacuum analyze credit_transaction`;
	await sql`vacuum analyze credit_package`;
	const [{ count }] = await sql`select count(*)::int as count from credit_transaction`;
	console.log(
		`seeded ${count.toLocaleString('en')} ledger rows (${config.heavyRows.toLocaleString('en')} for the heavy user) in ${((performance.now() - started) / 1000).toFixed(1)} s`
	);
}

export interface Stats {
	p50: number;
	p95: number;
}

/** Times `requests` sequential GETs after `warmup` ones; any answer but 200 is an error. */
export async function measure(
	client: HttpClient,
	path: string,
	config: { warmup: number; requests: number }
): Promise<Stats> {
	const once = async () => {
		const started = performance.now();
		const response = await client.get(path);
		const body = await response.arrayBuffer();
		const ms = performance.now() - started;
		if (response.status !== 200) {
			throw new Error(`GET ${path} answered ${response.status}: ${new TextDecoder().decode(body)}`);
		}
		return ms;
	};
	for (let i = 0; i < config.warmup; i++) await once();
	const times: number[] = [];
	for (let i = 0; i < config.requests; i++) {
		checkInterrupted();
		times.push(await once());
	}
	times.sort((a, b) => a - b);
	return { p50: percentile(times, 50), p95: percentile(times, 95) };
}
