/**
 * `npm run bench:chat`: what POST /api/chat adds to a streamed reply. Each round sends the same
 * number of concurrent streams twice: straight to a local OpenAI-compatible upstream (the body
 * the AI SDK sends) and through the built app (`node build`) in front of that same upstream. It
 * prints time to first token and total time, p50/p99 of both and their difference (what the
 * endpoint adds: the session lookup, the reserve hold, the chat and message writes, the AI SDK,
 * the SSE re-encoding and the extra hop), the same for streams sent one at a time (the cost
 * without queueing), and the app's CPU time and memory. Differences are taken between the
 * percentiles of the two phases, whose streams are not paired. It fails only on an actual
 * error, or when afterwards a stream turns out not billed exactly once (a real bug).
 *
 * Environment:
 *   BENCH_DATABASE_URL   a server to use (superuser, or a role that may create databases);
 *                        otherwise a throw-away PostgreSQL 18 with durable defaults is started
 *   BENCH_STREAMS        concurrent streams per round and phase (default 50)
 *   BENCH_USERS          users the streams are spread over, round-robin (default 10)
 *   BENCH_ROUNDS         measured rounds of each phase, after one warm-up round (default 5)
 *   BENCH_SERIAL         streams sent one at a time, each phase, with a 4-token reply (default 20)
 *   BENCH_CHUNK_DELAY_MS the upstream's pause before every chunk, the first included (default 20)
 *   BENCH_SPREAD_MS      start a round's streams evenly over this long instead of all at once
 *                        (default 0); about one reply's length (1100) keeps that many in flight
 *   BENCH_APP_NODE_OPTIONS  NODE_OPTIONS for the app, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`
 *   BENCH_SMOKE=1        a tiny run of a few seconds (CI)
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import { tokensIn } from '../../src/lib/server/chat/tokens';
import { verify } from '../../src/lib/server/credits';
import { openDatabase, selectRows, type Db } from '../../src/lib/server/db/client';
import { launchApp, type LaunchedApp } from '../helpers/app-server';
import { HttpClient } from '../helpers/http-client';
import { sseData } from '../helpers/sse';
import { DEFAULT_REPLY, startOpenAIServer, type OpenAIServer } from '../helpers/openai-server';
import {
	checkInterrupted,
	createDatabase,
	ensureBuild,
	onCleanup,
	openServer,
	percentile,
	positiveInt,
	runBenchmark
} from './harness';

const TARGET_ADDED_TTFT_MS = { p50: 5, p99: 20 } as const;
const MODEL = 'bench';
const QUESTION = 'How do credits work in this app?';
/** The serial phase's reply: its time to first token is what it measures, not its length. */
const SHORT_REPLY = 'Credits, simply.';
/** What the app asks the upstream for (CHAT_MAX_OUTPUT_TOKENS' default, which the hold covers). */
const MAX_TOKENS = 2048;

interface Config {
	streams: number;
	users: number;
	rounds: number;
	serial: number;
	chunkDelayMs: number;
	spreadMs: number;
	smoke: boolean;
}

function readConfig(env: NodeJS.ProcessEnv): Config {
	const smoke = env.BENCH_SMOKE === '1';
	const streams = positiveInt(env, 'BENCH_STREAMS') ?? (smoke ? 10 : 50);
	return {
		streams,
		users: Math.min(streams, positiveInt(env, 'BENCH_USERS') ?? (smoke ? 2 : 10)),
		rounds: positiveInt(env, 'BENCH_ROUNDS') ?? (smoke ? 1 : 5),
		serial: positiveInt(env, 'BENCH_SERIAL') ?? (smoke ? 5 : 20),
		chunkDelayMs: positiveInt(env, 'BENCH_CHUNK_DELAY_MS') ?? 20,
		spreadMs: positiveInt(env, 'BENCH_SPREAD_MS') ?? 0,
		smoke
	};
}

/** What the app printed, shown when the run fails. */
let appOutput = () => '';

/** The built app, as production runs it, in front of the local upstream. */
async function startApp(databaseUrl: string, upstream: OpenAIServer): Promise<LaunchedApp> {
	const app = await launchApp({
		DATABASE_URL: databaseUrl,
		OPENAI_BASE_URL: upstream.url,
		OPENAI_API_KEY: 'bench',
		OPENAI_API_STYLE: 'chat',
		CHAT_MODELS: `${MODEL}:1`,
		CHAT_MAX_CONCURRENT: '1000',
		// On, but never reached: each stream pays for its rate-limit check as in production.
		CHAT_RATE_PER_MINUTE: '1000000',
		CHAT_MAX_OUTPUT_TOKENS: String(MAX_TOKENS),
		// Enough that no stream of the run is ever refused or capped for want of credits.
		SIGNUP_BONUS_CREDITS: '1000000',
		SWEEP_INTERVAL_SECONDS: '0',
		...(process.env.BENCH_APP_NODE_OPTIONS
			? { NODE_OPTIONS: process.env.BENCH_APP_NODE_OPTIONS }
			: {})
	});
	appOutput = app.output;
	onCleanup(app.stop);
	return app;
}

/** Signs up `count` users through the form, each keeping its session cookie. */
async function signUpUsers(url: string, count: number): Promise<HttpClient[]> {
	const run = randomBytes(4).toString('hex');
	return Promise.all(
		Array.from({ length: count }, async (_, i) => {
			const client = new HttpClient(url);
			const response = await client.postForm('/signup', {
				name: `Bench ${i}`,
				email: `bench-${run}-${i}@example.com`,
				password: 'bench password'
			});
			if (response.status !== 303 || !client.hasSession()) {
				throw new Error(`sign-up ${i} answered ${response.status}: ${await response.text()}`);
			}
			return client;
		})
	);
}

/** The resident memory of a process from /proc (Linux), in bytes; undefined elsewhere. */
function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
	try {
		const status = readFileSync(`/proc/${pid}/status`, 'utf8');
		const kb = (field: string) =>
			Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
		return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
	} catch {
		return undefined;
	}
}

/** CPU time (user + system) a process has used so far, in ms; undefined where /proc is missing. */
function cpuMsOf(pid: number): number | undefined {
	try {
		// Fields 14 and 15 after the parenthesised command name, in clock ticks (USER_HZ = 100).
		const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
		const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
		return (Number(fields[11]) + Number(fields[12])) * 10;
	} catch {
		return undefined;
	}
}

/** Samples a process's RSS every 50 ms; `peak()` is the highest since the last `reset()`. */
function rssSampler(pid: number) {
	let peak = 0;
	const sample = () => (peak = Math.max(peak, memoryOf(pid)?.rss ?? 0));
	const timer = setInterval(sample, 50);
	onCleanup(async () => clearInterval(timer));
	return {
		reset: () => {
			peak = 0;
			sample();
		},
		peak: () => (sample(), peak)
	};
}

interface Timing {
	/** From sending the request to the first content token, in ms. */
	ttft: number;
	/** From sending the request to the end of the stream, in ms. */
	total: number;
}

/**
 * Reads a Server-Sent Events body to its end: the `data:` payloads go to `onData`, which says
 * whether one carried the first token. Returns when that happened and when the stream ended.
 */
async function readEvents(
	response: Response,
	started: number,
	onData: (data: string) => boolean
): Promise<Timing> {
	let firstAt: number | undefined;
	for await (const data of sseData(response.body!)) {
		if (data !== '[DONE]' && onData(data)) firstAt ??= performance.now();
	}
	const endedAt = performance.now();
	if (firstAt === undefined) throw new Error('the stream ended without a single token');
	return { ttft: firstAt - started, total: endedAt - started };
}

/** One stream straight from the upstream, with the body @ai-sdk/openai's chat model sends. */
async function directStream(upstream: OpenAIServer, expected: string): Promise<Timing> {
	const started = performance.now();
	const response = await fetch(`${upstream.url}/chat/completions`, {
		method: 'POST',
		headers: { 'content-type': 'application/json', authorization: 'Bearer bench' },
		body: JSON.stringify({
			model: MODEL,
			messages: [{ role: 'user', content: QUESTION }],
			max_tokens: MAX_TOKENS,
			stream: true,
			stream_options: { include_usage: true }
		})
	});
	if (response.status !== 200) {
		throw new Error(`the upstream answered ${response.status}: ${await response.text()}`);
	}
	let text = '';
	const timing = await readEvents(response, started, (data) => {
		const content = JSON.parse(data).choices?.[0]?.delta?.content;
		if (typeof content !== 'string' || content === '') return false;
		text += content;
		return true;
	});
	if (text !== expected) throw new Error(`the upstream streamed ${JSON.stringify(text)}`);
	return timing;
}

let chatCounter = 0;

/** One new chat through POST /api/chat, as the app's chat view sends it. */
async function appStream(client: HttpClient, expected: string): Promise<Timing> {
	const n = chatCounter++;
	const message = { id: `q-${n}`, role: 'user', parts: [{ type: 'text', text: QUESTION }] };
	const started = performance.now();
	const response = await client.request('/api/chat', {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ id: `bench-${n}`, message, model: MODEL })
	});
	if (!response.headers.get('content-type')?.includes('text/event-stream')) {
		throw new Error(`/api/chat answered ${response.status}: ${await response.text()}`);
	}
	let text = '';
	const timing = await readEvents(response, started, (data) => {
		const chunk = JSON.parse(data);
		if (chunk.type === 'error') throw new Error(`/api/chat streamed an error: ${data}`);
		if (chunk.type !== 'text-delta') return false;
		text += chunk.delta;
		return true;
	});
	if (text !== expected) throw new Error(`/api/chat streamed ${JSON.stringify(text)}`);
	return timing;
}

interface Stats {
	ttft: { p50: number; p99: number };
	total: { p50: number; p99: number };
}

function statsOf(timings: Timing[]): Stats {
	const of = (values: number[]) => {
		const sorted = [...values].sort((a, b) => a - b);
		return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
	};
	return {
		ttft: of(timings.map((t) => t.ttft)),
		total: of(timings.map((t) => t.total))
	};
}

/** Pending holds of the whole database (settlement runs after each response has ended). */
async function pendingHolds(db: Db): Promise<number> {
	const [row] = await selectRows<{ n: number }>(
		db,
		sql`select count(*)::int as n from credit_hold where status = 'pending'`
	);
	return row.n;
}

/** Waits until every hold is resolved; how long that took after the streams ended, in ms. */
async function settledAfter(db: Db, since: number, timeoutMs = 15_000): Promise<number> {
	while ((await pendingHolds(db)) > 0) {
		if (performance.now() - since > timeoutMs) {
			throw new Error(`holds still pending ${timeoutMs} ms after their streams ended`);
		}
		await sleep(10);
	}
	return performance.now() - since;
}

interface Bench {
	config: Config;
	upstream: OpenAIServer;
	app: LaunchedApp;
	clients: HttpClient[];
	db: Db;
	memory: ReturnType<typeof rssSampler>;
}

interface RoundResult {
	direct: Timing[];
	app: Timing[];
	/** Peak RSS of the app during its phase, in bytes. */
	peakRss: number;
	/** From the end of the last stream until no hold was pending, in ms. */
	settledMs: number;
	/** CPU time the app used for the phase (streams and settlement), in ms. */
	appCpuMs: number | undefined;
	/** Wall time of the app phase, in ms. */
	appWallMs: number;
}

/** One round: every stream straight from the upstream, then every stream through the app. */
async function runRound(bench: Bench): Promise<RoundResult> {
	const { config, upstream, clients, db, memory } = bench;
	checkInterrupted();
	const gap = config.spreadMs / config.streams;
	const many = <T>(op: (i: number) => Promise<T>) =>
		Promise.all(
			Array.from({ length: config.streams }, async (_, i) => {
				if (gap > 0) await sleep(i * gap);
				return op(i);
			})
		);
	const direct = await many(() => directStream(upstream, DEFAULT_REPLY));
	await upstream.idle();
	memory.reset();
	const cpuBefore = cpuMsOf(bench.app.pid);
	const started = performance.now();
	// Round-robin, so that each user has streams/users replies in flight (and holds pending).
	const app = await many((i) => appStream(clients[i % clients.length], DEFAULT_REPLY));
	const settledMs = await settledAfter(db, performance.now());
	const appWallMs = performance.now() - started;
	const cpuAfter = cpuMsOf(bench.app.pid);
	const appCpuMs =
		cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore;
	const peakRss = memory.peak();
	await upstream.idle();
	return { direct, app, peakRss, settledMs, appCpuMs, appWallMs };
}

/** Streams one at a time with a short reply: the fixed cost of a request, without queueing. */
async function runSerial(bench: Bench): Promise<{ direct: Timing[]; app: Timing[] }> {
	const { config, upstream, clients, db } = bench;
	upstream.behavior.reply = SHORT_REPLY;
	try {
		const direct: Timing[] = [];
		const app: Timing[] = [];
		for (let i = 0; i < config.serial; i++) {
			checkInterrupted();
			direct.push(await directStream(upstream, SHORT_REPLY));
			app.push(await appStream(clients[i % clients.length], SHORT_REPLY));
			// The previous reply's settlement must not overlap the next one's first token.
			await settledAfter(db, performance.now());
		}
		return { direct, app };
	} finally {
		upstream.behavior.reply = DEFAULT_REPLY;
	}
}

const ms = (value: number) => value.toFixed(1).padStart(8);
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

function roundLine(label: string, round: RoundResult): string {
	const d = statsOf(round.direct);
	const a = statsOf(round.app);
	const cpu =
		round.appCpuMs === undefined
			? ''
			: `, app CPU ${(round.appCpuMs / round.app.length).toFixed(1)} ms/stream ` +
				`(${((100 * round.appCpuMs) / round.appWallMs).toFixed(0)}% of a core)`;
	return (
		`  ${label.padEnd(11)} ttft p50 direct ${d.ttft.p50.toFixed(1)} / ` +
		`app ${a.ttft.p50.toFixed(1)} ms, ` +
		`total p50 ${d.total.p50.toFixed(0)} / ${a.total.p50.toFixed(0)} ms, ` +
		`peak RSS ${mb(round.peakRss)}${cpu}, settled ${round.settledMs.toFixed(0)} ms after`
	);
}

function printTable(title: string, direct: Stats, app: Stats): { p50: number; p99: number } {
	const row = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(14) : c)).join(' ');
	console.log(`\n${title}, in ms:\n`);
	console.log(row(['', ' ttft p50', ' ttft p99', 'total p50', 'total p99']));
	for (const [name, s] of [
		['direct', direct],
		['through app', app]
	] as const) {
		console.log(row([name, ms(s.ttft.p50), ms(s.ttft.p99), ms(s.total.p50), ms(s.total.p99)]));
	}
	const added = {
		p50: app.ttft.p50 - direct.ttft.p50,
		p99: app.ttft.p99 - direct.ttft.p99
	};
	console.log(
		row([
			'added by app',
			ms(added.p50),
			ms(added.p99),
			ms(app.total.p50 - direct.total.p50),
			ms(app.total.p99 - direct.total.p99)
		])
	);
	return added;
}

function verdict(value: number, target: number): string {
	return `${value.toFixed(1)} ms (target <= ${target} ms: ${value <= target ? 'meets' : 'misses'})`;
}

/** Every stream through the app settled once, with usage rows, and the ledger is consistent. */
async function checkBilling(db: Db, streams: number): Promise<boolean> {
	await settledAfter(db, performance.now());
	const [row] = await selectRows<Record<string, number>>(
		db,
		sql`select
			(select count(*)::int from credit_hold) as holds,
			(select count(*)::int from credit_hold where status = 'settled') as settled,
			(select count(*)::int from credit_hold where status = 'pending') as pending,
			(select count(distinct metadata->>'holdId')::int from credit_transaction
				where type = 'usage') as billed,
			(select count(*)::int from chat_message where role = 'assistant') as replies`
	);
	const report = await verify(db);
	console.log(
		`\nbilling: ${streams} streams through the app, ${row.holds} holds, ${row.settled} settled, ` +
			`${row.pending} pending, ${row.billed} with usage rows, ${row.replies} replies saved; ` +
			`verify: ${report.transactions} ledger rows, ${report.drifts.length} drifts`
	);
	const ok =
		row.holds === streams &&
		row.settled === streams &&
		row.pending === 0 &&
		row.billed === streams &&
		row.replies === streams &&
		report.drifts.length === 0;
	if (!ok) console.error('Some streams were not billed exactly once (a real bug).');
	if (report.drifts.length > 0) console.error('Ledger drifts:', report.drifts.slice(0, 10));
	return ok;
}

async function main(): Promise<number> {
	const config = readConfig(process.env);
	await ensureBuild();
	const server = await openServer();
	const databaseUrl = await createDatabase(server.url);
	const upstream = await startOpenAIServer({
		delayMs: config.chunkDelayMs,
		firstChunkDelayMs: config.chunkDelayMs
	});
	onCleanup(() => upstream.close());
	const started = performance.now();
	const app = await startApp(databaseUrl, upstream);
	const startMs = Math.round(performance.now() - started);
	const database = openDatabase({ url: databaseUrl, dataDir: null, maxConnections: 2 });
	onCleanup(() => database.close());
	const { db } = database;
	const [{ version }] = await selectRows<{ version: string }>(db, sql`select version()`);
	const clients = await signUpUsers(app.url, config.users);
	const memory = rssSampler(app.pid);
	const idle = memoryOf(app.pid);
	const bench: Bench = { config, upstream, app, clients, db, memory };

	const perUser = config.streams / config.users;
	// The app, PostgreSQL, the upstream and the clients share the machine: its load colours
	// every figure, so it is printed with them.
	console.log(
		`Machine: ${availableParallelism()} cores, load average ${loadavg()[0].toFixed(2)} at start`
	);
	console.log(`PostgreSQL: ${version}\n  server: ${server.source}`);
	console.log(
		`App: node build (pid ${app.pid}, healthy ${startMs} ms after spawn), ` +
			`RSS after start and ${config.users} sign-ups: ${idle ? mb(idle.rss) : 'n/a'}`
	);
	console.log(
		`Upstream: local OpenAI-compatible server (Chat Completions), ` +
			`a ${tokensIn(DEFAULT_REPLY)}-token reply streamed one token per chunk, ` +
			`${config.chunkDelayMs} ms before every chunk`
	);
	console.log(
		`Load: ${config.streams} concurrent streams per phase = ${config.users} users × ` +
			`${Number.isInteger(perUser) ? perUser : `~${perUser.toFixed(1)}`} each, ` +
			`${config.spreadMs ? `started evenly over ${config.spreadMs} ms` : 'started at once'}; ` +
			`1 warm-up round + ${config.rounds} measured; ${config.serial} serial streams` +
			`${config.smoke ? '; SMOKE run' : ''}\n`
	);

	const warmUp = await runRound(bench);
	console.log(roundLine('warm-up', warmUp));
	const rounds: RoundResult[] = [];
	for (let round = 1; round <= config.rounds; round++) {
		rounds.push(await runRound(bench));
		console.log(roundLine(`round ${round}/${config.rounds}`, rounds[rounds.length - 1]));
	}
	const serial = await runSerial(bench);

	const added = printTable(
		`${config.streams} concurrent streams, ${config.rounds} measured round(s) pooled ` +
			`(${config.rounds * config.streams} streams per phase)`,
		statsOf(rounds.flatMap((r) => r.direct)),
		statsOf(rounds.flatMap((r) => r.app))
	);
	const serialAdded = printTable(
		`One stream at a time (${config.serial} per phase, ${SHORT_REPLY.length}-char reply)`,
		statsOf(serial.direct),
		statsOf(serial.app)
	);
	console.log('\ntime to first token added by the app, concurrent:');
	console.log(`  p50 ${verdict(added.p50, TARGET_ADDED_TTFT_MS.p50)}`);
	console.log(`  p99 ${verdict(added.p99, TARGET_ADDED_TTFT_MS.p99)}`);
	console.log(
		`  (one at a time: p50 ${serialAdded.p50.toFixed(1)} ms, p99 ${serialAdded.p99.toFixed(1)} ms)`
	);
	const end = memoryOf(app.pid);
	const peak = Math.max(...rounds.map((r) => r.peakRss));
	console.log(
		`\napp memory: RSS ${idle ? mb(idle.rss) : 'n/a'} after start, peak ${mb(peak)} while ` +
			`streaming (sampled every 50 ms), VmHWM ${end ? mb(end.hwm) : 'n/a'} over the whole run`
	);

	console.log(`machine load average ${loadavg()[0].toFixed(2)} at the end`);
	const streams = (config.rounds + 1) * config.streams + config.serial;
	return (await checkBilling(db, streams)) ? 0 : 1;
}

await runBenchmark(main, {
	inFlight: 'streams',
	describeFailure: () => `The app's last output:\n${appOutput().slice(-4000)}`
});
