/**
 * A small reader of V8 `.cpuprofile` files (what `node --cpu-prof` writes): self time per
 * function and per package/area, summed over several profiles (one per process of a cluster),
 * optionally only for the samples taken inside a time window. `npm run bench:chat` prints it
 * when a goal is missed.
 *
 *   npx tsx tests/bench/profile.ts <dir or .cpuprofile files…>   summary of those profiles
 *   npx tsx tests/bench/profile.ts --self-test                   checks the arithmetic
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
	functionName: string;
	url: string;
	lineNumber: number;
	columnNumber: number;
}

interface ProfileNode {
	id: number;
	callFrame: CallFrame;
}

/** The parts of a `.cpuprofile` used here; times in microseconds of the monotonic clock. */
export interface CpuProfile {
	nodes: ProfileNode[];
	startTime: number;
	endTime: number;
	samples: number[];
	timeDeltas: number[];
}

export interface FunctionTime {
	name: string;
	/** `url:line` shortened to the part after the project or node_modules. */
	location: string;
	area: string;
	selfMs: number;
}

export interface ProfileSummary {
	profiles: number;
	/** Sampled time inside the window, idle included, in ms. */
	totalMs: number;
	/** Busy time: everything but `(idle)`, in ms. */
	busyMs: number;
	functions: FunctionTime[];
	areas: { area: string; selfMs: number }[];
}

const BUNDLED = 'bundled app: our src + SvelteKit + inlined deps';

/** Which package or part of the runtime a function belongs to, from its script URL. */
export function areaOf(frame: Pick<CallFrame, 'functionName' | 'url'>): string {
	const { functionName: name, url } = frame;
	if (name === '(garbage collector)') return 'GC';
	if (name === '(idle)') return 'idle';
	if (name === '(program)') return '(program): V8 and native code';
	if (name === '(root)') return '(root)';
	const modules = url.lastIndexOf('/node_modules/');
	if (modules >= 0) {
		const [first, second] = url.slice(modules + '/node_modules/'.length).split('/');
		const pkg = first.startsWith('@') ? `${first}/${second}` : first;
		if (pkg === 'ai') return 'node_modules/ai';
		if (pkg.startsWith('@ai-sdk/')) return '@ai-sdk/*';
		if (pkg === 'postgres') return 'postgres';
		if (pkg === 'better-auth' || pkg.startsWith('@better-auth/')) return 'better-auth';
		if (pkg === 'drizzle-orm') return 'drizzle';
		return `node_modules/${pkg}`;
	}
	if (url.startsWith('node:internal/webstreams/')) return 'node: web streams';
	if (url.startsWith('node:internal/deps/undici/')) return 'node: undici (fetch)';
	if (/^node:(internal\/)?(_http_|http|https)/.test(url)) return 'node: http';
	if (/^node:(internal\/)?(net|stream_base|tcp|dns)/.test(url)) return 'node: net';
	if (url.startsWith('node:internal/streams/') || url === 'node:stream') return 'node: streams';
	if (url.startsWith('node:internal/process/task_queues') || url.includes('timers')) {
		return 'node: timers and microtasks';
	}
	if (url.startsWith('node:')) return 'node: other internals';
	if (url.includes('/src/lib/server/')) return 'src/lib/server/**';
	if (url.includes('/src/')) return 'src (other)';
	// Vite bundles our src/ with SvelteKit and whatever it inlines (better-auth's core among
	// them) into .svelte-kit/output without a source map, and adapter-node's build/ maps back
	// only to those files; the other `dependencies` (ai, @ai-sdk/*, postgres, drizzle…) stay in
	// node_modules and are named above.
	if (url.includes('/build/') || url.includes('/.svelte-kit/')) return BUNDLED;
	if (url.startsWith('wasm://')) return 'wasm';
	if (url === '') return 'native / builtins';
	return 'other';
}

const sourceMaps = new Map<string, SourceMap | null>();

/**
 * The frame as written in the source: adapter-node bundles our src/, SvelteKit, better-auth and
 * the rest of the non-`dependencies` into build/ chunks, each with a `.map` next to it, so a
 * bundled function is traced back to its file (and its package) when the map is there.
 */
export function originalFrame(frame: CallFrame): CallFrame {
	if (!frame.url.startsWith('file://') || !frame.url.includes('/build/')) return frame;
	let map = sourceMaps.get(frame.url);
	if (map === undefined) {
		const path = `${fileURLToPath(frame.url)}.map`;
		map = existsSync(path) ? new SourceMap(JSON.parse(readFileSync(path, 'utf8'))) : null;
		sourceMaps.set(frame.url, map);
	}
	const entry = map?.findEntry(frame.lineNumber, frame.columnNumber);
	if (!entry || !('originalSource' in entry)) return frame;
	return {
		functionName: frame.functionName,
		url: entry.originalSource.replace(/^(\.\.\/)+/, '/'),
		lineNumber: entry.originalLine,
		columnNumber: entry.originalColumn
	};
}

function shortLocation(frame: CallFrame): string {
	const { url } = frame;
	if (!url) return '(native)';
	const modules = url.lastIndexOf('/node_modules/');
	let short = url;
	if (modules >= 0) short = url.slice(modules + '/node_modules/'.length);
	else if (url.includes('/.svelte-kit/')) short = url.slice(url.lastIndexOf('/.svelte-kit/') + 1);
	else if (url.includes('/build/')) short = url.slice(url.lastIndexOf('/build/') + 1);
	else if (url.includes('/src/')) short = url.slice(url.lastIndexOf('/src/') + 1);
	// Profiles count lines from 0, editors from 1.
	return `${short}:${frame.lineNumber + 1}`;
}

/**
 * Self time per function and area over these profiles. With a window (microseconds of the
 * monotonic clock, which V8's profile timestamps and `process.hrtime` share on Linux) only the
 * samples taken inside it count.
 */
export function summarize(
	profiles: CpuProfile[],
	window?: { fromUs: number; toUs: number }
): ProfileSummary {
	const byFunction = new Map<string, FunctionTime>();
	const byArea = new Map<string, number>();
	let totalUs = 0;
	let idleUs = 0;
	for (const profile of profiles) {
		const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
		// Sample i was taken at startTime + timeDeltas[0..i] and stands for the time until the
		// next sample (the last one: until endTime), as Chrome DevTools counts it.
		let at = profile.startTime;
		const times: number[] = profile.samples.map((_, i) => (at += profile.timeDeltas[i] ?? 0));
		for (let i = 0; i < profile.samples.length; i++) {
			if (window && (times[i] < window.fromUs || times[i] > window.toUs)) continue;
			const next = i + 1 < times.length ? times[i + 1] : profile.endTime;
			const us = Math.max(0, next - times[i]);
			const node = nodes.get(profile.samples[i]);
			if (!node) continue;
			const frame = originalFrame(node.callFrame);
			const area = areaOf(frame);
			totalUs += us;
			if (area === 'idle') idleUs += us;
			byArea.set(area, (byArea.get(area) ?? 0) + us);
			const location = shortLocation(frame);
			const key = `${frame.functionName}@${location}`;
			const entry = byFunction.get(key) ?? {
				name: frame.functionName || '(anonymous)',
				location,
				area,
				selfMs: 0
			};
			entry.selfMs += us / 1000;
			byFunction.set(key, entry);
		}
	}
	return {
		profiles: profiles.length,
		totalMs: totalUs / 1000,
		busyMs: (totalUs - idleUs) / 1000,
		functions: [...byFunction.values()].sort((a, b) => b.selfMs - a.selfMs),
		areas: [...byArea.entries()]
			.map(([area, us]) => ({ area, selfMs: us / 1000 }))
			.sort((a, b) => b.selfMs - a.selfMs)
	};
}

/** Every `.cpuprofile` in a directory (or the given files). */
export function readProfiles(paths: string[]): CpuProfile[] {
	const files = paths.flatMap((path) =>
		statSync(path).isDirectory()
			? readdirSync(path)
					.filter((name) => name.endsWith('.cpuprofile'))
					.map((name) => join(path, name))
			: [path]
	);
	return files.map((file) => JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
}

/** The summary as printed lines: top functions, then areas, as ms and % of busy time. */
export function formatSummary(summary: ProfileSummary, top = 15, perStreams?: number): string[] {
	const pct = (ms: number) => `${((100 * ms) / (summary.busyMs || 1)).toFixed(1)}%`.padStart(6);
	const per = (ms: number) =>
		perStreams ? `${(ms / perStreams).toFixed(2).padStart(7)} ms/stream` : '';
	const lines = [
		`${summary.profiles} profile(s), ${summary.busyMs.toFixed(0)} ms busy of ` +
			`${summary.totalMs.toFixed(0)} ms sampled (idle excluded from the percentages)`,
		`top ${top} functions by self time:`
	];
	for (const f of summary.functions.filter((f) => f.area !== 'idle').slice(0, top)) {
		lines.push(
			`  ${f.selfMs.toFixed(1).padStart(8)} ms ${pct(f.selfMs)} ${per(f.selfMs)}  ` +
				`${f.name}  ${f.location}  [${f.area}]`
		);
	}
	lines.push('self time by area:');
	for (const a of summary.areas) {
		const share = a.area === 'idle' ? '      ' : pct(a.selfMs);
		lines.push(`  ${a.selfMs.toFixed(1).padStart(8)} ms ${share} ${per(a.selfMs)}  ${a.area}`);
	}
	return lines;
}

/** A hand-made profile whose totals are known: the parser's check. */
function selfTest(): void {
	const frame = (functionName: string, url: string) => ({
		functionName,
		url,
		lineNumber: 0,
		columnNumber: 0
	});
	const profile: CpuProfile = {
		nodes: [
			{ id: 1, callFrame: frame('(root)', '') },
			{ id: 2, callFrame: frame('enqueue', 'node:internal/webstreams/readablestream') },
			{ id: 3, callFrame: frame('toUIMessageStream', 'file:///app/node_modules/ai/dist/x.mjs') },
			{ id: 4, callFrame: frame('(garbage collector)', '') },
			{ id: 5, callFrame: frame('(idle)', '') },
			{ id: 6, callFrame: frame('parse', 'file:///app/node_modules/@ai-sdk/openai/d.mjs') },
			{ id: 7, callFrame: frame('handler', 'file:///app/build/server/chunks/reply.js') }
		],
		// Samples at 1000+100, +300, +600, +1000, +1500, +2100; endTime closes the last at +2500.
		startTime: 1000,
		endTime: 3500,
		samples: [2, 3, 2, 4, 5, 6],
		timeDeltas: [100, 200, 300, 400, 500, 600]
	};
	const second: CpuProfile = {
		nodes: [{ id: 1, callFrame: frame('handler', 'file:///app/build/server/chunks/reply.js') }],
		startTime: 0,
		endTime: 1000,
		samples: [1],
		timeDeltas: [0]
	};
	const check = (label: string, actual: unknown, expected: unknown) => {
		if (JSON.stringify(actual) !== JSON.stringify(expected)) {
			throw new Error(`${label}: expected ${JSON.stringify(expected)}, got ${actual}`);
		}
	};
	const all = summarize([profile, second]);
	const area = (s: ProfileSummary, name: string) => s.areas.find((a) => a.area === name)?.selfMs;
	// web streams: samples 0 (200 us) and 2 (400 us); ai: 300 us; GC 500; idle 600; @ai-sdk 400.
	check('web streams', area(all, 'node: web streams'), 0.6);
	check('ai', area(all, 'node_modules/ai'), 0.3);
	check('@ai-sdk', area(all, '@ai-sdk/*'), 0.4);
	check('GC', area(all, 'GC'), 0.5);
	check('idle', area(all, 'idle'), 0.6);
	check('bundled', area(all, BUNDLED), 1);
	check('total', all.totalMs, 3.4);
	check('busy', all.busyMs, 2.8);
	check('top function', [all.functions[0].name, all.functions[0].selfMs], ['handler', 1]);
	check('top location', all.functions[0].location, 'build/server/chunks/reply.js:1');
	// Window [1300, 1700] holds samples 1 (at 1300) and 2 (at 1600) of the first profile only.
	const windowed = summarize([profile, second], { fromUs: 1300, toUs: 1700 });
	check('window total', windowed.totalMs, 0.7);
	check('window areas', windowed.areas.map((a) => a.area).sort(), [
		'node: web streams',
		'node_modules/ai'
	]);
	check(
		'postgres',
		areaOf(frame('q', 'file:///x/node_modules/postgres/src/connection.js')),
		'postgres'
	);
	check(
		'better-auth',
		areaOf(frame('q', 'file:///x/node_modules/@better-auth/core/a.mjs')),
		'better-auth'
	);
	check(
		'drizzle',
		areaOf(frame('q', 'file:///x/node_modules/drizzle-orm/pg-core/d.js')),
		'drizzle'
	);
	check('our src', areaOf(frame('q', 'file:///x/src/lib/server/credits.ts')), 'src/lib/server/**');
	console.log('profile.ts self-test: ok');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
	const args = process.argv.slice(2);
	if (args[0] === '--self-test') selfTest();
	else if (args.length === 0) {
		console.error('usage: tsx tests/bench/profile.ts <dir or .cpuprofile files…> | --self-test');
		process.exitCode = 2;
	} else console.log(formatSummary(summarize(readProfiles(args))).join('\n'));
}
