/**
 * `npm run bench:admin`: how fast the admin transactions explorer answers over a big ledger.
 * 1,000,000 ledger rows across 10,000 users (bulk-inserted with generate_series over a year,
 * consistent balance_after, not through the app); the built app is then asked, one request at a
 * time, for:
 *
 *   - the first page                GET /api/admin/transactions?limit=50
 *   - a filtered page               type=usage, a 10-day window half a year back, one model
 *   - a deep page                   the first page's filter at a cursor 500,000 rows down
 *
 * Each response carries the totals of its whole filter, so every figure is "page + totals". A
 * baseline is measured in the same run on the same app and session: GET /api/health. It prints
 * p50/p95 and ratios to the baseline; it fails only on a real error (a non-200, wrong totals).
 *
 *   BENCH_DATABASE_URL   a PostgreSQL server; unset: a throw-away durable PostgreSQL 18
 *   BENCH_N              requests per measurement (default 300)
 *   BENCH_SMOKE=1        a run of seconds (CI): 200 users × 10 rows, 20 requests
 */
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import { launchApp } from '../helpers/app-server';
import { HttpClient } from '../helpers/http-client';
import { grantAdminRole } from '../helpers/users';
import {
	createDatabase,
	ensureBuild,
	measure,
	onCleanup,
	openServer,
	positiveInt,
	runBenchmark,
	type Stats
} from './harness';

const TARGET_P95_MS = 50;
const ADMIN_EMAIL = 'admin@bench.example.com';
const DAY_MS = 86_400_000;
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'llama3.1:8b'];

interface Config {
	users: number;
	rowsPerUser: number;
	requests: number;
	warmup: number;
}

function readConfig(env: NodeJS.ProcessEnv): Config {
	const smoke = env.BENCH_SMOKE === '1';
	return {
		users: smoke ? 200 : 10_000,
		rowsPerUser: smoke ? 10 : 100,
		requests: positiveInt(env, 'BENCH_N') ?? (smoke ? 20 : 300),
		warmup: smoke ? 5 : 30
	};
}

let appOutput = () => '';

/**
 * Each user: a purchase of 100,000 credits a year ago, then usage rows of 1..5 credits (three
 * models) spread over the year, the last about 3.6 days ago. Rows go in in time order, so
 * users' rows lie interleaved on disk as in production. balance_after is exact.
 */
async function seed(sql: postgres.Sql, config: Config): Promise<void> {
	const started = performance.now();
	const now = Date.now();
	const t0 = new Date(now - 365 * DAY_MS);
	const stepMs = Math.floor((365 * DAY_MS - 4 * 3_600_000) / config.rowsPerUser);
	const last = config.rowsPerUser - 1;
	// Credits spent by usage rows 1..n of amounts 1 + i % 5 (closed form).
	const spent = (n: string) => `(${n} + 10 * (${n} / 5) + (${n} % 5) * (${n} % 5 + 1) / 2)`;
	await sql.begin(async (tx) => {
		await tx`
			insert into "user" (id, name, email, email_verified, role, created_at, updated_at)
			select 'bench-user-' || u, 'Bench ' || u, 'bench-' || u || '@bench.example.com', true, 'user', ${t0}, ${t0}
			from generate_series(1, ${config.users}) u`;
		await tx`insert into credit_account (user_id) select 'bench-user-' || u from generate_series(1, ${config.users}) u`;
		await tx.unsafe(
			`insert into credit_package (id, user_id, source, name, initial_credits, remaining_credits, created_at)
			select gen_random_uuid(), 'bench-user-' || u, 'purchase', 'Bench pack', 100000,
				100000 - ${spent(String(last))}, $1
			from generate_series(1, ${config.users}) u`,
			[t0]
		);
		await tx.unsafe(
			`insert into credit_transaction
				(user_id, package_id, type, amount, balance_after, description, metadata, idempotency_key, created_at)
			select p.user_id, p.id,
				case when n = 0 then 'purchase' else 'usage' end,
				case when n = 0 then 100000 else -(1 + n % 5) end,
				case when n = 0 then 100000 else 100000 - ${spent('n')} end,
				case when n = 0 then 'Bench pack' else 'Reply' end,
				case when n = 0 then '{}'::jsonb else jsonb_build_object(
					'model', (array['${MODELS.join("','")}'])[1 + (n + u) % 3],
					'inputTokens', 300 + n, 'outputTokens', 100 + u % 100, 'totalTokens', 400 + n + u % 100,
					'chatId', 'bench-chat-' || u || '-' || (n / 10), 'aborted', false) end,
				'bench:' || p.user_id || ':' || n,
				$1::timestamptz + (n * ${stepMs}::bigint) * interval '1 millisecond' + u * interval '1 second'
			from generate_series(1, ${config.users}) u
			join credit_package p on p.user_id = 'bench-user-' || u,
			generate_series(0, ${last}) n
			order by 9`,
			[t0]
		);
	});
	await sql`vacuum analyze credit_transaction`;
	await sql`vacuum analyze "user"`;
	const [{ count }] = await sql`select count(*)::int as count from credit_transaction`;
	console.log(
		`seeded ${count.toLocaleString('en')} ledger rows across ${config.users.toLocaleString('en')} users in ${((performance.now() - started) / 1000).toFixed(1)} s`
	);
}

async function main(): Promise<number> {
	const config = readConfig(process.env);
	await ensureBuild();
	const server = await openServer();
	console.log(`PostgreSQL: ${server.source}`);
	const databaseUrl = await createDatabase(server.url);
	const app = await launchApp({
		DATABASE_URL: databaseUrl,
		SIGNUP_BONUS_CREDITS: '0',
		SWEEP_INTERVAL_SECONDS: '0'
	});
	appOutput = app.output;
	onCleanup(app.stop);
	const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
	onCleanup(() => sql.end());

	const client = new HttpClient(app.url);
	const signup = await client.postForm('/signup', {
		name: 'Admin',
		email: ADMIN_EMAIL,
		password: 'bench password'
	});
	if (signup.status !== 303 || !client.hasSession()) {
		throw new Error(`signing up the admin answered ${signup.status}`);
	}
	await grantAdminRole(databaseUrl, ADMIN_EMAIL);
	await seed(sql, config);

	// The answer must be right before its speed matters: totals as the ledger sums them.
	const firstTotals = performance.now();
	const first = await (await client.get('/api/admin/transactions?limit=50')).json();
	console.log(
		`first totals request (rolls up every day that is over): ${(performance.now() - firstTotals).toFixed(0)} ms`
	);
	const [expected] = await sql`
		select count(*)::int as count,
			coalesce(sum(greatest(amount, 0)), 0)::bigint as "creditsIn",
			coalesce(-sum(least(amount, 0)), 0)::bigint as "creditsOut",
			coalesce(sum((metadata->>'totalTokens')::numeric), 0)::bigint as tokens
		from credit_transaction`;
	const want = Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, Number(v)]));
	if (JSON.stringify(first.totals) !== JSON.stringify(want)) {
		throw new Error(
			`totals ${JSON.stringify(first.totals)}, the ledger says ${JSON.stringify(want)}`
		);
	}

	const day = (offset: number) => new Date(Date.now() - offset * DAY_MS).toISOString().slice(0, 10);
	const filtered = `type=usage&model=gpt-4o&from=${day(190)}&to=${day(181)}`;
	const [deep] = await sql`
		select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '_' || id as cursor
		from credit_transaction order by created_at desc, id desc
		offset ${Math.floor((config.users * config.rowsPerUser) / 2)} limit 1`;
	const cases: [string, string][] = [
		['baseline: GET /api/health', '/api/health'],
		['first page + totals (every row)', '/api/admin/transactions?limit=50'],
		['filtered page + totals (usage, 1 model, 10 days)', `/api/admin/transactions?${filtered}`],
		[
			'deep page + totals (cursor half-way down)',
			`/api/admin/transactions?limit=50&cursor=${encodeURIComponent(deep.cursor)}`
		],
		[
			'user filter page + totals (by email)',
			`/api/admin/transactions?user=bench-7%40bench.example.com`
		],
		['page load: /admin/transactions/__data.json', '/admin/transactions/__data.json']
	];
	console.log(
		`\n${config.requests} sequential requests each after ${config.warmup} warm-up, one admin session, ${first.totals.count.toLocaleString('en')} rows, ${config.users.toLocaleString('en')} users\n`
	);
	console.log('| request | p50 ms | p95 ms | p95 / baseline |');
	console.log('| --- | ---: | ---: | ---: |');
	let baseline: Stats | undefined;
	const results: { label: string; stats: Stats }[] = [];
	for (const [label, path] of cases) {
		const stats = await measure(client, path, config);
		baseline ??= stats;
		results.push({ label, stats });
		console.log(
			`| ${label} | ${stats.p50.toFixed(1)} | ${stats.p95.toFixed(1)} | ${(stats.p95 / baseline.p95).toFixed(2)}× |`
		);
	}
	const worst = Math.max(...results.slice(1).map((r) => r.stats.p95));
	const full = config.users * config.rowsPerUser >= 1_000_000;
	console.log(
		`\ntarget: p95 ≤ ${TARGET_P95_MS} ms each; worst p95 ${worst.toFixed(1)} ms: ${worst <= TARGET_P95_MS ? 'met' : 'NOT met'}${full ? '' : ' (small run: not the target’s 1,000,000 rows)'}`
	);
	return 0;
}

await runBenchmark(main, {
	inFlight: 'requests',
	describeFailure: () => `app output:\n${appOutput().slice(-4000)}`
});
