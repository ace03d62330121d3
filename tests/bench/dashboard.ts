/**
 * `npm run bench:dashboard`: how fast the credits dashboard answers for a user with a long
 * history. One user holds 1,000,000 ledger rows among 1,000 users (bulk-inserted with
 * generate_series, consistent balance_after, not through the app); the built app (`node build`)
 * is then asked, one request at a time, for:
 *
 *   - the page's server load      GET /dashboard/credits/__data.json (layouts + page load)
 *   - the same with a filter       type=usage and a 10-day range half a year back
 *   - the API's first page         GET /api/credits/transactions?limit=50
 *   - the API at a deep cursor     the page 900,000 rows down
 *
 * beside a baseline measured in the same run on the same app and session: GET /api/health
 * (session lookup + one database round trip). It prints p50/p95 and the ratio to the baseline;
 * it fails only on a real error (a non-200 answer, a wrong balance).
 *
 * `npm run bench:seed` (= this script with --seed-only) seeds a database that is kept, so later
 * runs skip the minute of seeding:
 *
 *   BENCH_DATABASE_URL   a PostgreSQL server (superuser, or a role that may create databases);
 *                        unset: a throw-away durable PostgreSQL 18 is started and seeded each run
 *   BENCH_KEEP_DB        with BENCH_DATABASE_URL: the kept database's name (default
 *                        cc_bench_dashboard); an existing seed of the same size is reused
 *   BENCH_ROWS           the heavy user's ledger rows (default 1,000,000)
 *   BENCH_N              requests per measurement (default 300)
 *   BENCH_SMOKE=1        a run of seconds (CI): 5,000 rows, 20 users, 20 requests
 */
import postgres from 'postgres';
import { launchApp, type LaunchedApp } from '../helpers/app-server';
import { HttpClient } from '../helpers/http-client';
import {
	createDatabase,
	ensureBuild,
	measure,
	onCleanup,
	openServer,
	positiveInt,
	runBenchmark,
	type Stats,
	seedLedgerHistory
} from './harness';

const TARGET_P95_MS = 30;
const EMAIL = 'heavy@bench.example.com';
const PASSWORD = 'bench password';
const DAY_MS = 86_400_000;

interface Config {
	heavyRows: number;
	users: number;
	rowsPerUser: number;
	requests: number;
	warmup: number;
	seedOnly: boolean;
	keepDb: string | null;
}

function readConfig(env: NodeJS.ProcessEnv, argv: string[]): Config {
	const smoke = env.BENCH_SMOKE === '1';
	const seedOnly = argv.includes('--seed-only');
	if (seedOnly && !env.BENCH_DATABASE_URL) {
		throw new Error(
			'bench:seed keeps its database, so it needs a server that outlives it: set BENCH_DATABASE_URL.'
		);
	}
	const heavyRows = positiveInt(env, 'BENCH_ROWS') ?? (smoke ? 5_000 : 1_000_000);
	if (heavyRows < 3) throw new Error('BENCH_ROWS must be at least 3.');
	return {
		heavyRows,
		users: smoke ? 20 : 1_000,
		rowsPerUser: smoke ? 10 : 100,
		requests: positiveInt(env, 'BENCH_N') ?? (smoke ? 20 : 300),
		warmup: smoke ? 5 : 30,
		seedOnly,
		keepDb: env.BENCH_DATABASE_URL ? (env.BENCH_KEEP_DB ?? 'cc_bench_dashboard') : null
	};
}

/** What a seed looks like; a kept database is reused only when it matches. */
const seedLabel = (c: Config) => `rows=${c.heavyRows};users=${c.users};per=${c.rowsPerUser}`;

let appOutput = () => '';

/** The kept database (created if missing), or a scratch one dropped at the end. */
async function databaseFor(serverUrl: string, config: Config): Promise<string> {
	if (!config.keepDb) return createDatabase(serverUrl);
	if (!/^[a-z_][a-z0-9_]{0,62}$/.test(config.keepDb))
		throw new Error('BENCH_KEEP_DB: a plain name');
	const server = postgres(serverUrl, { max: 1, onnotice: () => {} });
	try {
		const [found] = await server`select 1 from pg_database where datname = ${config.keepDb}`;
		if (!found) await server.unsafe(`create database ${config.keepDb}`);
	} finally {
		await server.end();
	}
	const url = new URL(serverUrl);
	url.pathname = `/${config.keepDb}`;
	return url.toString();
}

/** Signs the heavy user in, or signs it up when the database is new. */
async function heavyUser(app: LaunchedApp): Promise<HttpClient> {
	const client = new HttpClient(app.url);
	let response = await client.postForm('/login', { email: EMAIL, password: PASSWORD });
	if (response.status !== 303 || !client.hasSession()) {
		response = await client.postForm('/signup', {
			name: 'Heavy',
			email: EMAIL,
			password: PASSWORD
		});
	}
	if (response.status !== 303 || !client.hasSession()) {
		throw new Error(`signing in the heavy user answered ${response.status}`);
	}
	return client;
}

async function isSeeded(sql: postgres.Sql, config: Config): Promise<boolean> {
	const [row] = await sql`select to_regclass('bench_seed') is not null as present`;
	if (!row.present) return false;
	const labels = await sql`select label from bench_seed`;
	return labels.length === 1 && labels[0].label === seedLabel(config);
}

async function main(): Promise<number> {
	const config = readConfig(process.env, process.argv.slice(2));
	await ensureBuild();
	const server = await openServer();
	console.log(`PostgreSQL: ${server.source}`);
	const databaseUrl = await databaseFor(server.url, config);
	const app = await launchApp({
		DATABASE_URL: databaseUrl,
		SIGNUP_BONUS_CREDITS: '0',
		SWEEP_INTERVAL_SECONDS: '0'
	});
	appOutput = app.output;
	onCleanup(app.stop);
	const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
	onCleanup(() => sql.end());

	const client = await heavyUser(app);
	const [{ id: heavyId }] = await sql`select id from "user" where email = ${EMAIL}`;
	if (await isSeeded(sql, config)) {
		console.log(`reusing the seed in ${config.keepDb} (${seedLabel(config)})`);
	} else {
		const [{ n }] = await sql`select count(*)::int as n from credit_transaction`;
		if (n > 0) {
			throw new Error(
				`${config.keepDb} holds another seed; drop it (or pick BENCH_KEEP_DB) to seed ${seedLabel(config)}`
			);
		}
		await seedLedgerHistory(sql, heavyId, config);
		// Labelled after the seed committed: a seed cut short is never taken for a finished one.
		await sql`create table if not exists bench_seed (label text not null)`;
		await sql`insert into bench_seed (label) values (${seedLabel(config)})`;
	}
	if (config.seedOnly) {
		console.log(`kept database: ${databaseUrl.replace(/\/\/[^@]*@/, '//…@')}`);
		return 0;
	}

	// The answer must be right before its speed matters: the balance from the packages.
	const credits = await (await client.get('/api/credits')).json();
	const [{ expected }] = await sql`
		select sum(remaining_credits)::int as expected from credit_package
		where user_id = ${heavyId} and (expires_at is null or expires_at > now())`;
	const [{ last }] = await sql`
		select balance_after as last from credit_transaction where user_id = ${heavyId}
		order by created_at desc, id desc limit 1`;
	if (credits.balance !== expected || credits.balance !== last) {
		throw new Error(`balance ${credits.balance}, packages say ${expected}, ledger says ${last}`);
	}
	const depth = Math.floor(config.heavyRows * 0.9);
	const [deep] = await sql`
		select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '_' || id as cursor
		from credit_transaction where user_id = ${heavyId}
		order by created_at desc, id desc offset ${depth} limit 1`;
	const from = new Date(Date.now() - 190 * DAY_MS).toISOString().slice(0, 10);
	const to = new Date(Date.now() - 181 * DAY_MS).toISOString().slice(0, 10);

	const cases: [string, string][] = [
		['baseline: GET /api/health', '/api/health'],
		['page load: /dashboard/credits/__data.json', '/dashboard/credits/__data.json'],
		[
			'page load, filtered (usage, 10 days, 6 months ago)',
			`/dashboard/credits/__data.json?type=usage&from=${from}&to=${to}`
		],
		['full page render (SSR HTML)', '/dashboard/credits'],
		['API first page (limit=50)', '/api/credits/transactions?limit=50'],
		[
			`API deep cursor (${depth.toLocaleString('en')} rows down)`,
			`/api/credits/transactions?limit=50&cursor=${encodeURIComponent(deep.cursor)}`
		]
	];
	console.log(
		`\n${config.requests} sequential requests each after ${config.warmup} warm-up, one session, ${config.heavyRows.toLocaleString('en')} rows for this user\n`
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
	const gated = results.filter((r) => /^(page load|API)/.test(r.label));
	const worst = Math.max(...gated.map((r) => r.stats.p95));
	console.log(
		`\ntarget: p95 ≤ ${TARGET_P95_MS} ms for the page load and the API; worst p95 ${worst.toFixed(1)} ms: ${worst <= TARGET_P95_MS ? 'met' : 'NOT met'}${config.heavyRows < 1_000_000 ? ' (small run: not the target’s 1,000,000 rows)' : ''}`
	);
	return 0;
}

await runBenchmark(main, {
	inFlight: 'requests',
	describeFailure: () => `app output:\n${appOutput().slice(-4000)}`
});
