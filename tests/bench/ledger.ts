/**
 * `npm run bench:ledger`: settlements per second on a real PostgreSQL, for distinct users and for
 * one hot user, beside a baseline measured in the same run on the same connection pool (a plain
 * `UPDATE bench_counter SET n = n - 1 WHERE id = $1`). It prints numbers and ratios; it fails
 * only on an actual error or when `verify()` finds a drift in the ledger afterwards.
 *
 * Environment:
 *   BENCH_DATABASE_URL   a server to use (superuser, or a role that may create databases);
 *                        otherwise a throw-away PostgreSQL 18 with durable defaults is started
 *   BENCH_N              settlements per measurement, both scenarios (default 2000 distinct, 1000 hot)
 *   BENCH_CONCURRENCY    connections in the pool = operations in flight (default 10)
 *   BENCH_ROUNDS         measurements of each phase; the best one counts (default 3)
 *   BENCH_SMOKE=1        a tiny run of a few seconds (CI)
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { sql } from 'drizzle-orm';
import { grant, reserve, settle, verify } from '../../src/lib/server/credits';
import { openDatabase, selectRows, type Db } from '../../src/lib/server/db/client';
import { user } from '../../src/lib/server/db/schema';
import {
	checkInterrupted,
	createDatabase,
	interrupted,
	onCleanup,
	openServer,
	percentile,
	positiveInt,
	runBenchmark
} from './harness';

// Each reply reserves HOLD credits and costs COST: a partial charge with credits released, the
// common case in production, and a single package so every settlement touches one package.
const HOLD = 10;
const COST = 7;
const TARGETS = { distinct: 0.5, hot: 0.3 } as const;

interface Config {
	distinctN: number;
	hotN: number;
	concurrency: number;
	rounds: number;
	smoke: boolean;
}

function readConfig(env: NodeJS.ProcessEnv): Config {
	const smoke = env.BENCH_SMOKE === '1';
	const n = positiveInt(env, 'BENCH_N');
	return {
		distinctN: n ?? (smoke ? 50 : 2000),
		hotN: n ?? (smoke ? 25 : 1000),
		concurrency: positiveInt(env, 'BENCH_CONCURRENCY') ?? (smoke ? 4 : 10),
		// At least two, so that one noisy measurement never decides a figure alone.
		rounds: Math.max(2, positiveInt(env, 'BENCH_ROUNDS') ?? (smoke ? 2 : 3)),
		smoke
	};
}

/** Runs `op(0..n-1)` with `concurrency` in flight; the first error stops the rest and is thrown. */
async function runConcurrently(
	n: number,
	concurrency: number,
	op: (i: number) => Promise<unknown>,
	onDone?: (i: number, ms: number) => void
): Promise<void> {
	let next = 0;
	let failure: { error: unknown } | undefined;
	const worker = async () => {
		while (!failure && !interrupted.signal.aborted && next < n) {
			const i = next++;
			const started = performance.now();
			try {
				await op(i);
			} catch (error) {
				failure ??= { error };
				return;
			}
			onDone?.(i, performance.now() - started);
		}
	};
	await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
	if (failure) throw failure.error;
	checkInterrupted();
}

interface Sample {
	opsPerSecond: number;
	meanMs: number;
	p50Ms: number;
	p99Ms: number;
}

/** Wall time of `n` operations with `concurrency` in flight, and each one's latency. */
async function measure(
	n: number,
	concurrency: number,
	op: (i: number) => Promise<unknown>
): Promise<Sample> {
	const latencies = new Array<number>(n);
	const started = performance.now();
	await runConcurrently(n, concurrency, op, (i, ms) => (latencies[i] = ms));
	const seconds = (performance.now() - started) / 1000;
	latencies.sort((a, b) => a - b);
	return {
		opsPerSecond: n / seconds,
		meanMs: latencies.reduce((total, ms) => total + ms, 0) / n,
		p50Ms: percentile(latencies, 50),
		p99Ms: percentile(latencies, 99)
	};
}

/** The baseline's table: one row per distinct-user operation. */
async function createCounters(db: Db, rows: number): Promise<void> {
	await db.execute(sql`create table bench_counter (id int primary key, n bigint not null)`);
	await db.execute(
		sql`insert into bench_counter (id, n) select i, 1000000000 from generate_series(1, ${rows}) as i`
	);
}

const decrementCounter = (db: Db, id: number) =>
	db.execute(sql`update bench_counter set n = n - 1 where id = ${id}`);

/** Inserts users directly (the ledger only needs the ids to exist), in batches. */
async function createUsers(db: Db, count: number): Promise<string[]> {
	const ids = Array.from({ length: count }, () => randomUUID());
	for (let start = 0; start < count; start += 500) {
		const batch = ids.slice(start, start + 500);
		await db
			.insert(user)
			.values(batch.map((id) => ({ id, name: 'bench', email: `${id}@example.com`, role: 'user' })));
	}
	return ids;
}

async function grantCredits(db: Db, userId: string, credits: number): Promise<void> {
	await grant(db, {
		userId,
		source: 'admin_grant',
		name: 'Benchmark credits',
		credits,
		expiresAt: null,
		key: `bench-grant:${userId}`
	});
}

/** One hold per entry of `owners`; reserve is set-up here, not what is measured. */
async function reserveHolds(
	db: Db,
	concurrency: number,
	owners: (i: number) => string,
	count: number,
	label: string
): Promise<string[]> {
	const holdIds = new Array<string>(count);
	await runConcurrently(count, concurrency, async (i) => {
		const hold = await reserve(db, { userId: owners(i), upTo: HOLD, key: `${label}:${i}` });
		// reserve caps a hold at what is available; a smaller one would make the run dishonest.
		if (hold.amount !== HOLD) throw new Error(`hold ${label}:${i} got ${hold.amount} credits`);
		holdIds[i] = hold.holdId;
	});
	return holdIds;
}

interface Scenario {
	key: keyof typeof TARGETS;
	title: string;
	n: number;
	/** The bench_counter row the i-th baseline UPDATE touches. */
	counterId(i: number): number;
	/** Fresh pending holds for one round of settlements. */
	holdsFor(round: number): Promise<string[]>;
}

async function distinctUsers(db: Db, config: Config): Promise<Scenario> {
	const { distinctN: n, concurrency, rounds } = config;
	const users = await createUsers(db, n);
	await runConcurrently(n, concurrency, (i) => grantCredits(db, users[i], HOLD * rounds));
	return {
		key: 'distinct',
		title: 'distinct users',
		n,
		counterId: (i) => i + 1,
		holdsFor: (round) =>
			reserveHolds(db, concurrency, (i) => users[i], n, `bench-distinct:${round}`)
	};
}

async function oneHotUser(db: Db, config: Config): Promise<Scenario> {
	const { hotN: n, concurrency, rounds } = config;
	const [hot] = await createUsers(db, 1);
	// One big package: every hold of every round must get its full HOLD. All n holds are pending
	// when the timing starts, so each settle sums up to n pending holds: harsher than production,
	// where a user has about one pending hold per reply in progress.
	await grantCredits(db, hot, HOLD * n * rounds);
	return {
		key: 'hot',
		title: 'one hot user',
		n,
		counterId: () => 1,
		holdsFor: (round) => reserveHolds(db, concurrency, () => hot, n, `bench-hot:${round}`)
	};
}

interface Result {
	scenario: Scenario;
	baseline: Sample[];
	settle: Sample[];
}

/**
 * Each round: prepare the holds (untimed), then the baseline, then the settlements, so both
 * phases of a round see the same server state; the best round of each phase counts.
 */
async function runScenario(db: Db, scenario: Scenario, config: Config): Promise<Result> {
	const result: Result = { scenario, baseline: [], settle: [] };
	for (let round = 1; round <= config.rounds; round++) {
		const holds = await scenario.holdsFor(round);
		result.baseline.push(
			await measure(scenario.n, config.concurrency, (i) =>
				decrementCounter(db, scenario.counterId(i))
			)
		);
		result.settle.push(
			await measure(scenario.n, config.concurrency, async (i) => {
				const settled = await settle(db, { holdId: holds[i], cost: COST });
				if (settled.charged !== COST)
					throw new Error(`hold ${holds[i]} charged ${settled.charged}`);
			})
		);
		const last = (samples: Sample[]) => Math.round(samples[samples.length - 1].opsPerSecond);
		console.log(
			`  ${scenario.title}, round ${round}/${config.rounds}: baseline ${last(result.baseline)} ops/s, settle ${last(result.settle)} ops/s`
		);
	}
	return result;
}

const best = (samples: Sample[]) =>
	samples.reduce((top, sample) => (sample.opsPerSecond > top.opsPerSecond ? sample : top));

function printResults(results: Result[], config: Config): void {
	const row = (cells: string[]) =>
		cells
			.map((cell, i) => (i === 0 ? cell.padEnd(22) : i === 1 ? cell.padEnd(9) : cell.padStart(8)))
			.join(' ');
	const ms = (value: number) => value.toFixed(2);
	console.log(`\nBest of ${config.rounds} rounds per phase (highest ops/s), latency in ms:\n`);
	console.log(row(['scenario', 'phase', 'ops/s', 'mean', 'p50', 'p99']));
	for (const { scenario, baseline, settle } of results) {
		for (const [phase, samples] of [
			['baseline', baseline],
			['settle', settle]
		] as const) {
			const s = best(samples);
			console.log(
				row([
					`${scenario.title} (${scenario.n})`,
					phase,
					s.opsPerSecond.toFixed(0),
					ms(s.meanMs),
					ms(s.p50Ms),
					ms(s.p99Ms)
				])
			);
		}
	}
	console.log('\nsettle / baseline:');
	for (const { scenario, baseline, settle } of results) {
		const ratio = best(settle).opsPerSecond / best(baseline).opsPerSecond;
		const target = TARGETS[scenario.key];
		const verdict = ratio >= target ? 'meets' : 'misses';
		console.log(
			`  ${scenario.title.padEnd(15)} ${ratio.toFixed(2)}  (target >= ${target}: ${verdict})`
		);
	}
}

async function printServer(db: Db, source: string, config: Config): Promise<void> {
	const [settings] = await selectRows<Record<string, string>>(
		db,
		sql`select version() as version, current_setting('fsync') as fsync,
			current_setting('synchronous_commit') as synchronous_commit,
			current_setting('full_page_writes') as full_page_writes,
			current_setting('shared_buffers') as shared_buffers`
	);
	console.log(`PostgreSQL: ${settings.version}`);
	console.log(`  server: ${source}`);
	console.log(
		`  fsync=${settings.fsync} synchronous_commit=${settings.synchronous_commit} ` +
			`full_page_writes=${settings.full_page_writes} shared_buffers=${settings.shared_buffers}`
	);
	console.log(
		`  pool: ${config.concurrency} connections = operations in flight; ` +
			`rounds: ${config.rounds}; hold ${HOLD}, cost ${COST}${config.smoke ? '; SMOKE run' : ''}\n`
	);
}

async function main(): Promise<number> {
	const config = readConfig(process.env);
	const server = await openServer();
	const url = await createDatabase(server.url);
	const database = openDatabase({ url, dataDir: null, maxConnections: config.concurrency });
	onCleanup(() => database.close());
	await database.migrate('drizzle');
	const { db } = database;
	await printServer(db, server.source, config);

	await createCounters(db, config.distinctN);
	const results: Result[] = [];
	for (const build of [distinctUsers, oneHotUser]) {
		results.push(await runScenario(db, await build(db, config), config));
	}
	printResults(results, config);

	const report = await verify(db);
	console.log(
		`\nverify: ${report.users} users, ${report.packages} packages, ` +
			`${report.transactions} ledger rows, ${report.drifts.length} drifts`
	);
	if (report.drifts.length === 0) return 0;
	console.error('The ledger drifted (a real bug):', report.drifts.slice(0, 10));
	return 1;
}

await runBenchmark(main, { inFlight: 'operations' });
