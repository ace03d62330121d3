/**
 * `npm run bench:chat`: what POST /api/chat adds to a streamed reply, measured in one run
 * against two references. Each round sends the same number of concurrent streams three times:
 *
 *   direct  straight to a local OpenAI-compatible upstream (the body the AI SDK sends);
 *   proxy   through a minimal pass-through proxy (tests/bench/passthrough-proxy.ts: plain
 *           node:http in its own process, no auth, no database) that parses the upstream SSE and
 *           re-emits the UI-message SSE the app sends: the physical cost of streaming through
 *           Node on this machine;
 *   app     through the built app (`node src/cluster.js`, as `npm start` runs it) in
 *           front of that same upstream.
 *
 * The same client code times all three (time to first text token, total time); the proxy and
 * the app are parsed the same way. Then streams one at a time (the fixed cost without
 * queueing), the app's CPU per stream (all its processes), an RSS soak with streams flowing the
 * whole time, and the goals of issue 15, each with PASS or MISS. On a miss, a short round is
 * rerun with the app under `--cpu-prof` and a profile summary is printed (tests/bench/profile.ts).
 * Differences are taken between the percentiles of two phases, whose streams are not paired.
 * It fails (exit 1) only on an actual error, or when afterwards a stream turns out not billed
 * exactly once (a real bug); a missed goal prints MISS and exits 0.
 *
 * Environment:
 *   BENCH_DATABASE_URL   a server to use (superuser, or a role that may create databases);
 *                        otherwise a throw-away PostgreSQL 18 with durable defaults is started
 *   BENCH_STREAMS        concurrent streams per round and phase (default 50)
 *   BENCH_USERS          users the streams are spread over, round-robin (default 10)
 *   BENCH_ROUNDS         measured rounds, after one warm-up round (default 5)
 *   BENCH_SERIAL         streams sent one at a time, each phase, with a 4-token reply (default 20)
 *   BENCH_CHUNK_DELAY_MS the upstream's pause before every chunk, the first included (default 20)
 *   BENCH_SPREAD_MS      start a round's streams evenly over this long instead of all at once
 *                        (default 0); about one reply's length (1100) keeps that many in flight
 *   BENCH_SOAK_S         seconds of the RSS soak (default 600; 5 with BENCH_SMOKE=1): RSS of
 *                        all app processes every 2 s, median of the first minute after 10 s
 *                        vs the last minute (thirds when shorter than 190 s)
 *   BENCH_SOAK_STREAMS   streams kept in flight through the app during the soak (default 10)
 *   BENCH_WORKERS        WEB_CONCURRENCY of src/cluster.js (default: cores)
 *   BENCH_PROFILE        1: always print the profile summary; 0: never (default: on a miss,
 *                        except in a smoke run)
 *   BENCH_PROFILE_DIR    keep the .cpuprofile files in a new directory under this one
 *   BENCH_APP_NODE_OPTIONS  NODE_OPTIONS for the app, e.g. `--max-old-space-size=512`
 *   BENCH_SMOKE=1        a tiny run well under a minute (CI)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import { tokensIn } from '../../src/lib/server/chat/tokens';
import { verify } from '../../src/lib/server/credits';
import { openDatabase, selectRows, type Db } from '../../src/lib/server/db/client';
import { launchApp, stopProcess, type LaunchedApp } from '../helpers/app-server';
import { HttpClient } from '../helpers/http-client';
import { sseData } from '../helpers/sse';
import { DEFAULT_REPLY, startOpenAIServer, type OpenAIServer } from '../helpers/openai-server';
import {
	checkInterrupted,
	createDatabase,
	ensureBuild,
	interrupted,
	onCleanup,
	openServer,
	percentile,
	positiveInt,
	runBenchmark
} from './harness';
import { formatSummary, readProfiles, summarize } from './profile';

/** Issue 15's goals. */
const GOALS = {
	/** Added to time to first token by the app, 50 streams started at once, in ms. */
	concurrentAddedTtft: { p50: 25, p99: 60 },
	/** The app's added TTFT over the pass-through proxy's, same run, p50 and p99. */
	overProxy: 2,
	/** Added to time to first token, one stream at a time, p50, in ms. */
	serialAddedTtftP50: 8,
	/** CPU of all app processes per 55-token stream, in ms. */
	cpuPerStreamMs: 5,
	/** RSS change over the soak, first minute vs last minute, in %. */
	rssDriftPct: 10
} as const;
const MODEL = 'bench';
const QUESTION = 'How do credits work in this app?';
/** The serial phase's reply: its time to first token is what it measures, not its length. */
const SHORT_REPLY = 'Credits, simply.';
/** What the app asks the upstream for (CHAT_MAX_OUTPUT_TOKENS' default, which the hold covers). */
const MAX_TOKENS = 2048;
/** The body @ai-sdk/openai's chat model sends: what the direct and proxy phases send. */
const UPSTREAM_BODY = JSON.stringify({
	model: MODEL,
	messages: [{ role: 'user', content: QUESTION }],
	max_tokens: MAX_TOKENS,
	stream: true,
	stream_options: { include_usage: true }
});

interface Config {
	streams: number;
	users: number;
	rounds: number;
	serial: number;
	chunkDelayMs: number;
	spreadMs: number;
	soakS: number;
	soakStreams: number;
	workers: number;
	/** true/false when BENCH_PROFILE says so, undefined: on a miss outside smoke runs. */
	profile: boolean | undefined;
	smoke: boolean;
}

function readConfig(env: NodeJS.ProcessEnv): Config {
	const smoke = env.BENCH_SMOKE === '1';
	const streams = positiveInt(env, 'BENCH_STREAMS') ?? (smoke ? 10 : 50);
	const profile = env.BENCH_PROFILE;
	if (profile !== undefined && profile !== '' && profile !== '0' && profile !== '1') {
		throw new Error(`BENCH_PROFILE must be 0 or 1, got "${profile}".`);
	}
	return {
		streams,
		users: Math.min(streams, positiveInt(env, 'BENCH_USERS') ?? (smoke ? 2 : 10)),
		rounds: positiveInt(env, 'BENCH_ROUNDS') ?? (smoke ? 1 : 5),
		serial: positiveInt(env, 'BENCH_SERIAL') ?? (smoke ? 5 : 20),
		chunkDelayMs: positiveInt(env, 'BENCH_CHUNK_DELAY_MS') ?? 20,
		spreadMs: positiveInt(env, 'BENCH_SPREAD_MS') ?? 0,
		soakS: positiveInt(env, 'BENCH_SOAK_S') ?? (smoke ? 5 : 600),
		soakStreams: positiveInt(env, 'BENCH_SOAK_STREAMS') ?? (smoke ? 4 : 10),
		workers: positiveInt(env, 'BENCH_WORKERS') ?? availableParallelism(),
		profile: profile === '1' ? true : profile === '0' ? false : undefined,
		smoke
	};
}

// --- processes ---------------------------------------------------------------------------------

/** The pids of a process and all its descendants, from /proc (Linux); [pid] elsewhere. */
function processTree(pid: number): number[] {
	const children = new Map<number, number[]>();
	try {
		for (const name of readdirSync('/proc')) {
			if (!/^\d+$/.test(name)) continue;
			try {
				const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
				const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
				children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
			} catch {
				// exited while we looked
			}
		}
	} catch {
		return [pid];
	}
	const tree = [pid];
	for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []));
	return tree;
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

/** RSS summed over a process and its descendants (the cluster primary and its workers). */
function treeRss(pid: number): number {
	return processTree(pid).reduce((sum, p) => sum + (memoryOf(p)?.rss ?? 0), 0);
}

/** CPU time (user + system) a process has used so far, in ms; undefined where /proc is missing. */
function cpuMsOf(pid: number, withReapedChildren = false): number | undefined {
	try {
		// Fields 14-17 after the parenthesised command name, in clock ticks (USER_HZ = 100):
		// utime, stime, and cutime, cstime of children already waited for.
		const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
		const fields = stat
			.slice(stat.lastIndexOf(')') + 2)
			.split(' ')
			.map(Number);
		const ticks = fields[11] + fields[12] + (withReapedChildren ? fields[13] + fields[14] : 0);
		return ticks * 10;
	} catch {
		return undefined;
	}
}

/**
 * CPU of a process tree: every live process, plus what exited workers used (in the root's
 * cutime/cstime once reaped), so a worker restarted mid-run is not lost.
 */
function treeCpuMs(pid: number): number | undefined {
	const root = cpuMsOf(pid, true);
	if (root === undefined) return undefined;
	return processTree(pid)
		.slice(1)
		.reduce((sum, p) => sum + (cpuMsOf(p) ?? 0), root);
}

/**
 * PostgreSQL's main process, from the postmaster.pid file in its data directory (readable when
 * the server runs here, as the embedded one does); undefined otherwise.
 */
async function postmasterPid(db: Db): Promise<number | undefined> {
	try {
		const [{ directory }] = await selectRows<{ directory: string }>(
			db,
			sql`select current_setting('data_directory') as directory`
		);
		const pid = Number(readFileSync(join(directory, 'postmaster.pid'), 'utf8').split('\n')[0]);
		return treeCpuMs(pid) === undefined ? undefined : pid;
	} catch {
		return undefined;
	}
}

/** Samples a tree's RSS every 50 ms; `peak()` is the highest since the last `reset()`. */
function rssSampler(pid: number) {
	let peak = 0;
	const sample = () => (peak = Math.max(peak, treeRss(pid)));
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

/** SIGTERM, then SIGKILL to the app and its workers after `graceMs`. */
async function stopTree(app: LaunchedApp, graceMs: number): Promise<void> {
	const pids = processTree(app.pid);
	try {
		process.kill(app.pid, 'SIGTERM');
	} catch {
		return; // already gone
	}
	const timer = setTimeout(() => {
		for (const pid of pids) {
			try {
				process.kill(pid, 'SIGKILL');
			} catch {
				// already gone
			}
		}
	}, graceMs);
	await app.exited;
	clearTimeout(timer);
}

interface BenchApp {
	url: string;
	pid: number;
	/** What ran: `node src/cluster.js (WEB_CONCURRENCY=n)`. */
	command: string;
	/** Worker processes that said they listen. */
	listening: number;
	output(): string;
	/** SIGTERM, then SIGKILL after `graceMs` (a profile is written only on a clean exit). */
	stop(graceMs?: number): Promise<void>;
}

/**
 * Starts the app as production does: `node src/cluster.js` (one worker per core, Node cluster,
 * WEB_CONCURRENCY = BENCH_WORKERS), with tests/helpers/app-server.ts's launchApp, and waits until
 * all its workers say they listen.
 */
async function launchBenchApp(env: Record<string, string>, workers: number): Promise<BenchApp> {
	const app = await launchApp(
		{ ...env, WEB_CONCURRENCY: String(workers) },
		{ cluster: true, workers }
	);
	return {
		...app,
		command: `node src/cluster.js (WEB_CONCURRENCY=${workers})`,
		listening: workers,
		stop: (graceMs = 5_000) => stopTree(app, graceMs)
	};
}

/** The pass-through proxy, in its own Node process (Node 24 strips the types; no tsx). */
async function startProxy(upstream: OpenAIServer): Promise<{ url: string; pid: number }> {
	const child = spawn(
		process.execPath,
		['--disable-warning=ExperimentalWarning', 'tests/bench/passthrough-proxy.ts'].concat([
			'--upstream',
			upstream.url
		]),
		{ env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production' }, stdio: 'pipe' }
	);
	onCleanup(() => stopProcess(child));
	let output = '';
	child.stderr?.on('data', (chunk) => (output += chunk));
	const url = await new Promise<string>((resolve, reject) => {
		child.stdout?.on('data', (chunk) => {
			output += chunk;
			const match = /listening on (\S+)/.exec(output);
			if (match) resolve(match[1]);
		});
		child.once('exit', (code) => reject(new Error(`the proxy exited with ${code}:\n${output}`)));
	});
	return { url, pid: child.pid! };
}

/** What the app printed, shown when the run fails. */
let appOutput = () => '';

function appEnv(databaseUrl: string, upstream: OpenAIServer, nodeOptions?: string) {
	return {
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
		...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {})
	};
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

// --- the client: one code path for all three targets -------------------------------------------

interface Timing {
	/** From sending the request to the first text token, in ms. */
	ttft: number;
	/** From sending the request to the end of the stream, in ms. */
	total: number;
}

/** The text of one `data:` payload: OpenAI's chunk (direct) or a UI-message chunk (proxy, app). */
type TextOf = (data: string) => string | undefined;

const openAIText: TextOf = (data) => {
	const content = JSON.parse(data).choices?.[0]?.delta?.content;
	return typeof content === 'string' && content !== '' ? content : undefined;
};

const uiMessageText: TextOf = (data) => {
	const chunk = JSON.parse(data);
	if (chunk.type === 'error') throw new Error(`the stream carried an error: ${data}`);
	return chunk.type === 'text-delta' ? chunk.delta : undefined;
};

/**
 * Sends one request and reads its Server-Sent Events to the end: when the first text arrived,
 * when the stream ended, and that the text is the expected reply.
 */
async function timedStream(
	label: string,
	send: () => Promise<Response>,
	textOf: TextOf,
	expected: string
): Promise<Timing> {
	const started = performance.now();
	const response = await send();
	if (!response.headers.get('content-type')?.includes('text/event-stream')) {
		throw new Error(`${label} answered ${response.status}: ${await response.text()}`);
	}
	let firstAt: number | undefined;
	let text = '';
	for await (const data of sseData(response.body!)) {
		if (data === '[DONE]') continue;
		const piece = textOf(data);
		if (piece === undefined) continue;
		firstAt ??= performance.now();
		text += piece;
	}
	const endedAt = performance.now();
	if (firstAt === undefined) throw new Error(`${label}: the stream ended without a token`);
	if (text !== expected) throw new Error(`${label} streamed ${JSON.stringify(text)}`);
	return { ttft: firstAt - started, total: endedAt - started };
}

const upstreamRequest = (url: string) => () =>
	fetch(url, {
		method: 'POST',
		headers: { 'content-type': 'application/json', authorization: 'Bearer bench' },
		body: UPSTREAM_BODY
	});

/** One stream straight from the upstream. */
const directStream = (upstream: OpenAIServer, expected: string) =>
	timedStream(
		'the upstream',
		upstreamRequest(`${upstream.url}/chat/completions`),
		openAIText,
		expected
	);

/** One stream through the pass-through proxy. */
const proxyStream = (proxyUrl: string, expected: string) =>
	timedStream(
		'the proxy',
		upstreamRequest(`${proxyUrl}/v1/chat/completions`),
		uiMessageText,
		expected
	);

let chatCounter = 0;

/** One new chat through POST /api/chat, as the app's chat view sends it. */
function appStream(client: HttpClient, expected: string): Promise<Timing> {
	const n = chatCounter++;
	const message = { id: `q-${n}`, role: 'user', parts: [{ type: 'text', text: QUESTION }] };
	const body = JSON.stringify({
		id: `bench-${randomBytes(6).toString('hex')}`,
		message,
		model: MODEL
	});
	return timedStream(
		'/api/chat',
		() =>
			client.request('/api/chat', {
				method: 'POST',
				headers: { 'content-type': 'application/json' },
				body
			}),
		uiMessageText,
		expected
	);
}

// --- statistics ---------------------------------------------------------------------------------

interface Stats {
	ttft: { p50: number; p99: number };
	total: { p50: number; p99: number };
}

function pcts(values: number[]) {
	const sorted = [...values].sort((a, b) => a - b);
	return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

function statsOf(timings: Timing[]): Stats {
	return { ttft: pcts(timings.map((t) => t.ttft)), total: pcts(timings.map((t) => t.total)) };
}

function median(values: number[]): number {
	const sorted = [...values].sort((a, b) => a - b);
	const mid = Math.floor(sorted.length / 2);
	return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// --- database checks ----------------------------------------------------------------------------

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

// --- the phases ---------------------------------------------------------------------------------

interface Bench {
	config: Config;
	upstream: OpenAIServer;
	proxy: { url: string; pid: number };
	app: BenchApp;
	/** PostgreSQL's main process, when it runs on this machine and its files are readable. */
	postmaster: number | undefined;
	clients: HttpClient[];
	db: Db;
	memory: ReturnType<typeof rssSampler>;
	/** Streams sent through the app so far: each must be billed exactly once. */
	appStreams: number;
}

interface RoundResult {
	direct: Timing[];
	proxy: Timing[];
	app: Timing[];
	/** Peak RSS of the app (all processes) during its phase, in bytes. */
	peakRss: number;
	/** From the end of the last stream until no hold was pending, in ms. */
	settledMs: number;
	/** CPU time the app used for its phase (streams and settlement), in ms. */
	appCpuMs: number | undefined;
	/** CPU time the proxy used for its phase, in ms. */
	proxyCpuMs: number | undefined;
	/** CPU time PostgreSQL (all its processes) used for the app's phase, in ms. */
	databaseCpuMs: number | undefined;
	/** Wall time of the app phase, in ms. */
	appWallMs: number;
}

/** Runs `op` for each of `count` streams, all at once or spread over `spreadMs`. */
function concurrently<T>(count: number, spreadMs: number, op: (i: number) => Promise<T>) {
	const gap = spreadMs / count;
	return Promise.all(
		Array.from({ length: count }, async (_, i) => {
			if (gap > 0) await sleep(i * gap);
			return op(i);
		})
	);
}

const cpuDelta = (before: number | undefined, after: number | undefined) =>
	before === undefined || after === undefined ? undefined : after - before;

/** One round: every stream straight from the upstream, then through the proxy, then the app. */
async function runRound(bench: Bench): Promise<RoundResult> {
	const { config, upstream, proxy, clients, db, memory } = bench;
	checkInterrupted();
	const many = <T>(op: (i: number) => Promise<T>) =>
		concurrently(config.streams, config.spreadMs, op);
	const direct = await many(() => directStream(upstream, DEFAULT_REPLY));
	await upstream.idle();

	const proxyBefore = cpuMsOf(proxy.pid);
	const viaProxy = await many(() => proxyStream(proxy.url, DEFAULT_REPLY));
	await upstream.idle();
	const proxyCpuMs = cpuDelta(proxyBefore, cpuMsOf(proxy.pid));

	memory.reset();
	const cpuBefore = treeCpuMs(bench.app.pid);
	const databaseCpu = () => (bench.postmaster ? treeCpuMs(bench.postmaster) : undefined);
	const databaseBefore = databaseCpu();
	const started = performance.now();
	// Round-robin, so that each user has streams/users replies in flight (and holds pending).
	bench.appStreams += config.streams;
	const app = await many((i) => appStream(clients[i % clients.length], DEFAULT_REPLY));
	const settledMs = await settledAfter(db, performance.now());
	const appWallMs = performance.now() - started;
	const appCpuMs = cpuDelta(cpuBefore, treeCpuMs(bench.app.pid));
	const databaseCpuMs = cpuDelta(databaseBefore, databaseCpu());
	const peakRss = memory.peak();
	await upstream.idle();
	return {
		direct,
		proxy: viaProxy,
		app,
		peakRss,
		settledMs,
		appCpuMs,
		proxyCpuMs,
		databaseCpuMs,
		appWallMs
	};
}

interface SerialResult {
	direct: Timing[];
	proxy: Timing[];
	app: Timing[];
}

/** Streams one at a time with a short reply: the fixed cost of a request, without queueing. */
async function runSerial(bench: Bench): Promise<SerialResult> {
	const { config, upstream, proxy, clients, db } = bench;
	upstream.behavior.reply = SHORT_REPLY;
	try {
		const result: SerialResult = { direct: [], proxy: [], app: [] };
		for (let i = 0; i < config.serial; i++) {
			checkInterrupted();
			result.direct.push(await directStream(upstream, SHORT_REPLY));
			result.proxy.push(await proxyStream(proxy.url, SHORT_REPLY));
			bench.appStreams++;
			result.app.push(await appStream(clients[i % clients.length], SHORT_REPLY));
			// The previous reply's settlement must not overlap the next one's first token.
			await settledAfter(db, performance.now());
		}
		return result;
	} finally {
		upstream.behavior.reply = DEFAULT_REPLY;
	}
}

interface SoakResult {
	/** Seconds since the soak started, and the app's RSS (all processes) then, in bytes. */
	samples: { at: number; rss: number }[];
	streams: number;
	ttft: { p50: number; p99: number };
	skipS: number;
	windowS: number;
	first: number;
	last: number;
	/** (last - first) / first, in %. */
	driftPct: number;
}

/**
 * Keeps `soakStreams` replies in flight through the app for `soakS` seconds (each client loop
 * starts a new one when its last ended) and samples the app's RSS every few seconds. The first
 * window after a short soak warm-up (10 s, or a tenth of a shorter soak) is compared with the
 * last one (medians); a window is a minute, or a third of what is left in a soak under 190 s,
 * so that the two never overlap.
 */
async function runSoak(bench: Bench): Promise<SoakResult> {
	const { config, clients, db } = bench;
	const durationMs = config.soakS * 1000;
	const everyMs = config.soakS >= 60 ? 2_000 : Math.max(250, durationMs / 20);
	const started = performance.now();
	const samples: { at: number; rss: number }[] = [];
	const sample = () =>
		samples.push({ at: (performance.now() - started) / 1000, rss: treeRss(bench.app.pid) });
	sample();
	const timer = setInterval(sample, everyMs);
	const ttfts: number[] = [];
	let streams = 0;
	try {
		await Promise.all(
			Array.from({ length: config.soakStreams }, async (_, i) => {
				// Staggered, so the loops do not stay in lockstep.
				await sleep((i * 1100) / config.soakStreams);
				while (performance.now() - started < durationMs && !interrupted.signal.aborted) {
					streams++;
					bench.appStreams++;
					const timing = await appStream(clients[i % clients.length], DEFAULT_REPLY);
					ttfts.push(timing.ttft);
				}
			})
		);
	} finally {
		clearInterval(timer);
	}
	sample();
	checkInterrupted();
	await settledAfter(db, performance.now());
	// The first seconds after the load changes are the heap settling, not a trend.
	const skipS = Math.min(10, config.soakS / 10);
	const windowS = Math.min(60, (config.soakS - skipS) / 3);
	const endS = samples[samples.length - 1].at;
	const rssIn = (from: number, to: number) =>
		samples.filter((s) => s.at >= from && s.at <= to).map((s) => s.rss);
	const first = median(rssIn(skipS, skipS + windowS));
	const last = median(rssIn(endS - windowS, endS));
	return {
		samples,
		streams,
		ttft: pcts(ttfts),
		skipS,
		windowS,
		first,
		last,
		driftPct: (100 * (last - first)) / first
	};
}

// --- the profile on a miss ----------------------------------------------------------------------

/**
 * A second app on the same database and upstream, under `--cpu-prof` (every process of a
 * cluster writes its own profile): one warm-up round and one measured round of app streams;
 * only the samples taken during the measured round count (V8's profile timestamps and
 * `process.hrtime` share the monotonic clock on Linux).
 */
async function profileRound(bench: Bench, databaseUrl: string): Promise<string[]> {
	const { config, upstream, db } = bench;
	const kept = process.env.BENCH_PROFILE_DIR;
	const dir = kept
		? mkdtempSync(join(kept, 'bench-chat-'))
		: mkdtempSync(join(tmpdir(), 'bench-chat-prof-'));
	if (!kept) onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
	const options = [process.env.BENCH_APP_NODE_OPTIONS, `--cpu-prof --cpu-prof-dir=${dir}`]
		.filter(Boolean)
		.join(' ');
	const app = await launchBenchApp(appEnv(databaseUrl, upstream, options), config.workers);
	let stopped = false;
	onCleanup(async () => {
		if (!stopped) await app.stop();
	});
	const clients = await signUpUsers(app.url, config.users);
	const round = async () => {
		bench.appStreams += config.streams;
		await concurrently(config.streams, config.spreadMs, (i) =>
			appStream(clients[i % clients.length], DEFAULT_REPLY)
		);
		await settledAfter(db, performance.now());
	};
	await round();
	const fromUs = Number(process.hrtime.bigint() / 1000n);
	await round();
	const toUs = Number(process.hrtime.bigint() / 1000n);
	// The profile is written when the process exits cleanly: give the graceful shutdown time.
	await app.stop(30_000);
	stopped = true;
	const profiles = readProfiles([dir]);
	if (profiles.length === 0) {
		// --cpu-prof writes only on a clean exit: a cluster worker whose IPC channel stays open
		// after the graceful shutdown never exits by itself and is killed after the 30 s.
		return [
			'no profile was written: every app process must exit by itself within 30 s of SIGTERM ' +
				'(a cluster worker must also disconnect from its primary)'
		];
	}
	let summary = summarize(profiles, { fromUs, toUs });
	let note = `samples of the measured round only (${((toUs - fromUs) / 1000).toFixed(0)} ms)`;
	if (summary.totalMs === 0) {
		summary = summarize(profiles);
		note = 'the whole life of the processes (the round window matched no sample)';
	}
	return [
		`App under --cpu-prof (${app.command}), ${config.streams} streams, ${note}; ` +
			(kept ? `profiles kept in ${dir} (open them in Chrome DevTools); ` : '') +
			`ms/stream = self time / ${config.streams}:`,
		...formatSummary(summary, 15, config.streams)
	];
}

// --- printing -----------------------------------------------------------------------------------

const ms = (value: number) => value.toFixed(1).padStart(8);
const signed = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(1)}`;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

function roundLine(label: string, round: RoundResult): string {
	const d = statsOf(round.direct);
	const p = statsOf(round.proxy);
	const a = statsOf(round.app);
	const cpu =
		round.appCpuMs === undefined
			? ''
			: `, app CPU ${(round.appCpuMs / round.app.length).toFixed(1)} ms/stream ` +
				`(${((100 * round.appCpuMs) / round.appWallMs).toFixed(0)}% of a core)` +
				(round.databaseCpuMs === undefined
					? ''
					: `, PostgreSQL ${(round.databaseCpuMs / round.app.length).toFixed(1)} ms/stream`);
	return (
		`  ${label.padEnd(11)} ttft p50 direct ${d.ttft.p50.toFixed(1)} / proxy ` +
		`${p.ttft.p50.toFixed(1)} / app ${a.ttft.p50.toFixed(1)} ms, total p50 ` +
		`${d.total.p50.toFixed(0)} / ${p.total.p50.toFixed(0)} / ${a.total.p50.toFixed(0)} ms, ` +
		`peak RSS ${mb(round.peakRss)}${cpu}, settled ${round.settledMs.toFixed(0)} ms after`
	);
}

interface Added {
	proxy: { p50: number; p99: number };
	app: { p50: number; p99: number };
}

function printTable(title: string, direct: Stats, proxy: Stats, app: Stats): Added {
	const row = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(16) : c)).join(' ');
	console.log(`\n${title}, in ms:\n`);
	console.log(row(['', ' ttft p50', ' ttft p99', 'total p50', 'total p99']));
	for (const [name, s] of [
		['direct', direct],
		['through proxy', proxy],
		['through app', app]
	] as const) {
		console.log(row([name, ms(s.ttft.p50), ms(s.ttft.p99), ms(s.total.p50), ms(s.total.p99)]));
	}
	const added = (s: Stats) => ({
		p50: s.ttft.p50 - direct.ttft.p50,
		p99: s.ttft.p99 - direct.ttft.p99
	});
	for (const [name, s] of [
		['added by proxy', proxy],
		['added by app', app]
	] as const) {
		console.log(
			row([
				name,
				ms(s.ttft.p50 - direct.ttft.p50),
				ms(s.ttft.p99 - direct.ttft.p99),
				ms(s.total.p50 - direct.total.p50),
				ms(s.total.p99 - direct.total.p99)
			])
		);
	}
	return { proxy: added(proxy), app: added(app) };
}

interface Goal {
	name: string;
	measured: string;
	target: string;
	pass: boolean;
}

function printGoals(goals: Goal[]): void {
	const width = Math.max(...goals.map((g) => g.name.length));
	const measured = Math.max(...goals.map((g) => g.measured.length));
	for (const g of goals) {
		console.log(
			`  ${g.pass ? 'PASS' : 'MISS'}  ${g.name.padEnd(width)}  ${g.measured.padStart(measured)}` +
				`  target ${g.target}`
		);
	}
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
	const proxy = await startProxy(upstream);
	const started = performance.now();
	const app = await launchBenchApp(
		appEnv(databaseUrl, upstream, process.env.BENCH_APP_NODE_OPTIONS),
		config.workers
	);
	appOutput = app.output;
	onCleanup(() => app.stop());
	const startMs = Math.round(performance.now() - started);
	const database = openDatabase({ url: databaseUrl, dataDir: null, maxConnections: 2 });
	onCleanup(() => database.close());
	const { db } = database;
	const [{ version }] = await selectRows<{ version: string }>(db, sql`select version()`);
	const postmaster = await postmasterPid(db);
	const clients = await signUpUsers(app.url, config.users);
	const memory = rssSampler(app.pid);
	const idleRss = treeRss(app.pid);
	const bench: Bench = {
		config,
		upstream,
		proxy,
		app,
		postmaster,
		clients,
		db,
		memory,
		appStreams: 0
	};

	const perUser = config.streams / config.users;
	// The app, the proxy, PostgreSQL, the upstream and the clients share the machine: its load
	// colours every figure, so it is printed with them.
	console.log(
		`Machine: ${availableParallelism()} cores, load average ${loadavg()[0].toFixed(2)} at start`
	);
	console.log(`PostgreSQL: ${version}\n  server: ${server.source}`);
	console.log(
		`App: ${app.command} (pid ${app.pid}, ${processTree(app.pid).length} process(es), ` +
			`${app.listening} listening, healthy ${startMs} ms after spawn), ` +
			`RSS after start and ${config.users} sign-ups: ${mb(idleRss)}`
	);
	console.log(
		`Proxy: tests/bench/passthrough-proxy.ts, own node process (pid ${proxy.pid}), ` +
			`fetch to the upstream, UI-message SSE out, no auth, no database`
	);
	console.log(
		`Upstream: local OpenAI-compatible server (Chat Completions) in the bench process, ` +
			`a ${tokensIn(DEFAULT_REPLY)}-token reply streamed one token per chunk, ` +
			`${config.chunkDelayMs} ms before every chunk`
	);
	console.log(
		`Load: ${config.streams} concurrent streams per phase = ${config.users} users × ` +
			`${Number.isInteger(perUser) ? perUser : `~${perUser.toFixed(1)}`} each, ` +
			`${config.spreadMs ? `started evenly over ${config.spreadMs} ms` : 'started at once'}; ` +
			`phases direct, proxy, app; 1 warm-up round + ${config.rounds} measured; ` +
			`${config.serial} serial streams; soak ${config.soakS} s with ${config.soakStreams} ` +
			`in flight${config.smoke ? '; SMOKE run' : ''}\n`
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
		statsOf(rounds.flatMap((r) => r.proxy)),
		statsOf(rounds.flatMap((r) => r.app))
	);
	const serialAdded = printTable(
		`One stream at a time (${config.serial} per phase, ${SHORT_REPLY.length}-char reply)`,
		statsOf(serial.direct),
		statsOf(serial.proxy),
		statsOf(serial.app)
	);
	const sumCpu = (pick: (r: RoundResult) => number | undefined) =>
		rounds.every((r) => pick(r) !== undefined)
			? rounds.reduce((sum, r) => sum + pick(r)!, 0) / (rounds.length * config.streams)
			: undefined;
	const appCpu = sumCpu((r) => r.appCpuMs);
	const proxyCpu = sumCpu((r) => r.proxyCpuMs);
	const databaseCpu = sumCpu((r) => r.databaseCpuMs);
	console.log(
		`\nCPU per ${tokensIn(DEFAULT_REPLY)}-token stream over the measured rounds (/proc utime+stime): ` +
			`app ${appCpu?.toFixed(1) ?? 'n/a'} ms (all ${processTree(app.pid).length} process(es), ` +
			`settlement included), proxy ${proxyCpu?.toFixed(1) ?? 'n/a'} ms, ` +
			`PostgreSQL for the app ${databaseCpu?.toFixed(1) ?? 'n/a (not on this machine)'} ms`
	);
	const peak = Math.max(...rounds.map((r) => r.peakRss));
	console.log(
		`app memory: RSS ${mb(idleRss)} after start, peak ${mb(peak)} during the rounds ` +
			`(all processes, sampled every 50 ms)`
	);

	console.log(`\nSoak: ${config.soakS} s, ${config.soakStreams} streams in flight through the app`);
	const soak = await runSoak(bench);
	const series = soak.samples;
	const shown = Array.from({ length: Math.min(series.length, 11) }, (_, i) =>
		Math.round((i * (series.length - 1)) / Math.max(1, Math.min(series.length, 11) - 1))
	);
	console.log(
		`  ${soak.streams} streams (${(soak.streams / config.soakS).toFixed(1)}/s), ttft p50 ` +
			`${soak.ttft.p50.toFixed(1)} / p99 ${soak.ttft.p99.toFixed(1)} ms; RSS ${series.length} ` +
			`samples, min ${mb(Math.min(...series.map((s) => s.rss)))}, median ` +
			`${mb(median(series.map((s) => s.rss)))}, max ${mb(Math.max(...series.map((s) => s.rss)))}`
	);
	console.log(
		`  RSS over time: ${shown.map((i) => `${series[i].at.toFixed(0)}s ${mb(series[i].rss)}`).join(', ')}`
	);
	console.log(
		`  median of ${soak.skipS.toFixed(0)}-${(soak.skipS + soak.windowS).toFixed(0)} s ` +
			`${mb(soak.first)}, of the last ${soak.windowS.toFixed(0)} s ${mb(soak.last)}: ` +
			`${signed(soak.driftPct)}%`
	);

	// The proxy's added time can be ~0 or negative in noise: the ratio is then taken over 1 ms.
	const ratio = (app: number, proxy: number) => app / Math.max(1, proxy);
	const ratioText = (p: 'p50' | 'p99') =>
		`${ratio(added.app[p], added.proxy[p]).toFixed(2)}× (app ${signed(added.app[p])}, ` +
		`proxy ${signed(added.proxy[p])} ms)`;
	const goals: Goal[] = [
		{
			name: `${config.streams} at once: TTFT added p50`,
			measured: `${added.app.p50.toFixed(1)} ms`,
			target: `<= ${GOALS.concurrentAddedTtft.p50} ms`,
			pass: added.app.p50 <= GOALS.concurrentAddedTtft.p50
		},
		{
			name: `${config.streams} at once: TTFT added p99`,
			measured: `${added.app.p99.toFixed(1)} ms`,
			target: `<= ${GOALS.concurrentAddedTtft.p99} ms`,
			pass: added.app.p99 <= GOALS.concurrentAddedTtft.p99
		},
		...(['p50', 'p99'] as const).map((p) => ({
			name: `app/proxy added TTFT ${p}`,
			measured: ratioText(p),
			target: `<= ${GOALS.overProxy}×`,
			pass: ratio(added.app[p], added.proxy[p]) <= GOALS.overProxy
		})),
		{
			name: 'one at a time: TTFT added p50',
			measured: `${serialAdded.app.p50.toFixed(1)} ms (proxy ${signed(serialAdded.proxy.p50)})`,
			target: `<= ${GOALS.serialAddedTtftP50} ms`,
			pass: serialAdded.app.p50 <= GOALS.serialAddedTtftP50
		},
		{
			name: 'app CPU per stream',
			measured: appCpu === undefined ? 'n/a (no /proc)' : `${appCpu.toFixed(1)} ms`,
			target: `<= ${GOALS.cpuPerStreamMs} ms`,
			pass: appCpu !== undefined && appCpu <= GOALS.cpuPerStreamMs
		},
		{
			name: `RSS over the ${config.soakS} s soak`,
			measured: `${signed(soak.driftPct)}%`,
			target: `within ±${GOALS.rssDriftPct}%`,
			pass: Math.abs(soak.driftPct) <= GOALS.rssDriftPct
		}
	];
	console.log(`\nGoals (issue 15), load average ${loadavg()[0].toFixed(2)} now:`);
	printGoals(goals);
	const missed = goals.some((g) => !g.pass);

	if (config.profile ?? (missed && !config.smoke)) {
		console.log(`\nProfile (${missed ? 'a goal was missed' : 'BENCH_PROFILE=1'}):`);
		for (const line of await profileRound(bench, databaseUrl)) console.log(`  ${line}`);
	}

	console.log(`\nmachine load average ${loadavg()[0].toFixed(2)} at the end`);
	return (await checkBilling(db, bench.appStreams)) ? 0 : 1;
}

await runBenchmark(main, {
	inFlight: 'streams',
	describeFailure: () => `The app's last output:\n${appOutput().slice(-4000)}`
});
