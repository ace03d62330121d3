// `npm start`: the production server on every core. Plain JavaScript (no tsx in production): the
// primary forks WEB_CONCURRENCY workers, each running adapter-node's `build/index.js`, which share
// the port through Node's cluster module. The primary serves nothing itself; it replaces dead
// workers, forwards SIGTERM/SIGINT so that each worker drains (adapter-node emits
// `sveltekit:shutdown`, runtime.ts lets running replies settle and closes the database), and
// answers the workers' requests for the instance-wide metrics (src/lib/server/metrics/).
import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import promClient from 'prom-client';

const MAX_WORKERS = 64;
/** A worker that dies sooner than this after its start counts as a crash at start. */
const QUICK_DEATH_MS = 10_000;
/** Crashes at start in a row after which replacing workers is pointless. */
const MAX_QUICK_DEATHS = 5;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** Must match src/lib/server/metrics/cluster.ts. */
const SCRAPE_REQUEST = 'credit-chat:metrics-scrape';
const SCRAPE_ANSWER = 'credit-chat:metrics-scrape-answer';

/**
 * One line on stderr, then exit: what an operator reads first.
 * @param {string} message
 * @returns {never}
 */
function fail(message) {
	console.error(`credit-chat cannot start: ${message}`);
	process.exit(1);
}

/** Primary-side log lines, JSON like the workers' (src/lib/server/log.ts), never a pino dependency. */
/**
 * @param {'info' | 'warn' | 'error'} level
 * @param {string} msg
 * @param {Record<string, unknown>} [fields]
 */
function log(level, msg, fields = {}) {
	const line = JSON.stringify({
		level,
		time: new Date().toISOString(),
		role: 'primary',
		...fields,
		msg
	});
	(level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(`${line}\n`);
}

/**
 * WEB_CONCURRENCY as a worker count: unset or empty = one per core.
 * @param {string | undefined} value
 * @returns {number}
 */
function workerCount(value, cores = availableParallelism()) {
	if (value === undefined || value.trim() === '') return Math.min(cores, MAX_WORKERS);
	const text = value.trim();
	const count = /^\d+$/.test(text) ? Number(text) : NaN;
	if (!Number.isInteger(count) || count < 1 || count > MAX_WORKERS) {
		throw new Error(
			`WEB_CONCURRENCY must be a whole number from 1 to ${MAX_WORKERS} (got "${value}"); leave it unset for one worker per core.`
		);
	}
	return count;
}

function startPrimary() {
	const entry = fileURLToPath(new URL('../build/index.js', import.meta.url));
	if (!existsSync(entry)) fail(`${entry} is missing: run \`npm run build\` first.`);
	let wanted = 1;
	try {
		wanted = workerCount(process.env.WEB_CONCURRENCY);
	} catch (error) {
		fail(error instanceof Error ? error.message : String(error));
	}
	if (!process.env.DATABASE_URL && wanted > 1) {
		log(
			'warn',
			`DATABASE_URL is not set: the embedded database (PGlite) can be opened by one process only, so 1 worker runs instead of ${wanted}. Set DATABASE_URL to use every core.`
		);
		wanted = 1;
	}
	cluster.setupPrimary({ exec: entry });

	// Constructed in the primary, it listens for the workers' answers to its metrics requests.
	const aggregator = new promClient.AggregatorRegistry();
	cluster.on('message', (worker, message) => {
		if (message?.type !== SCRAPE_REQUEST) return;
		aggregator.clusterMetrics().then(
			(text) => send(worker, { type: SCRAPE_ANSWER, id: message.id, text }),
			(error) =>
				send(worker, {
					type: SCRAPE_ANSWER,
					id: message.id,
					error: String(error?.message ?? error)
				})
		);
	});

	let stopping = false;
	let exitCode = 0;
	let listened = false;
	let quickDeaths = 0;
	const startedAt = new Map();

	const fork = () => {
		const worker = cluster.fork();
		startedAt.set(worker.id, Date.now());
	};

	cluster.on('listening', () => {
		listened = true;
	});

	cluster.on('exit', (worker, code, signal) => {
		const lived = Date.now() - (startedAt.get(worker.id) ?? Date.now());
		startedAt.delete(worker.id);
		if (stopping) {
			if (Object.keys(cluster.workers ?? {}).length === 0) {
				log('info', 'all workers stopped');
				process.exit(exitCode);
			}
			return;
		}
		const how = signal ? `signal ${signal}` : `code ${code}`;
		if (!listened) {
			// No worker ever got as far as listening: a configuration error (already explained by
			// the worker's own line above) that no restart can fix.
			log(
				'error',
				`worker ${worker.process.pid} exited with ${how} before the server started; giving up (see its message above).`
			);
			return stopAll(1);
		}
		quickDeaths = lived < QUICK_DEATH_MS ? quickDeaths + 1 : 0;
		if (quickDeaths >= MAX_QUICK_DEATHS) {
			log(
				'error',
				`workers keep dying right after they start (${quickDeaths} in a row, last with ${how}); giving up.`
			);
			return stopAll(1);
		}
		const delay =
			quickDeaths === 0 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (quickDeaths - 1));
		log(
			'warn',
			`worker ${worker.process.pid} exited with ${how}; starting a replacement in ${delay} ms`,
			{ lived_ms: lived }
		);
		setTimeout(() => {
			if (!stopping) fork();
		}, delay);
	});

	/** Forwards the signal so every worker drains; the primary leaves when the last one has. */
	/**
	 * @param {number} code
	 * @param {NodeJS.Signals} [signal]
	 */
	const stopAll = (code, signal = 'SIGTERM') => {
		if (stopping) {
			// A second signal: stop waiting for running replies.
			for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
			return;
		}
		stopping = true;
		exitCode = code;
		const workers = Object.values(cluster.workers ?? {});
		if (workers.length === 0) process.exit(exitCode);
		log(
			'info',
			`${signal === 'SIGINT' ? 'SIGINT' : 'stopping'}: letting ${workers.length} worker(s) drain`
		);
		for (const worker of workers) worker?.process.kill(signal);
	};
	process.on('SIGTERM', () => stopAll(0, 'SIGTERM'));
	process.on('SIGINT', () => stopAll(0, 'SIGINT'));

	log('info', `starting ${wanted} worker(s)`, { workers: wanted });
	for (let i = 0; i < wanted; i++) fork();
}

/**
 * Sends unless the worker is already gone (it may die while the primary aggregates).
 * @param {import('node:cluster').Worker} worker
 * @param {object} message
 */
function send(worker, message) {
	if (worker.isConnected()) worker.send(message);
}

if (cluster.isPrimary) startPrimary();
