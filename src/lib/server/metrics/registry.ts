import cluster from 'node:cluster';
import {
	AggregatorRegistry,
	collectDefaultMetrics,
	Counter,
	Gauge,
	Histogram,
	register,
	type Metric
} from 'prom-client';
import { runningCount } from '../chat/runs';
import { countPendingHolds } from './holds';

/**
 * The app's metrics, in prom-client's global registry (the one a cluster worker hands to the
 * primary when it aggregates, see cluster.ts). Labels have bounded values only: SvelteKit route
 * ids (never raw paths), methods, status codes, configured model ids, fixed outcome names.
 * Counters and histograms are summed over the workers of an instance; gauges say how.
 */

/** The metric already registered under this name (Vite's hot reload re-runs modules), or a new one. */
function once<T extends Metric>(name: string, create: () => T): T {
	return (register.getSingleMetric(name) as T | undefined) ?? create();
}

export const httpRequests = once(
	'credit_chat_http_requests_total',
	() =>
		new Counter({
			name: 'credit_chat_http_requests_total',
			help: 'HTTP requests answered, by SvelteKit route id, method and status.',
			labelNames: ['route', 'method', 'status'] as const
		})
);

export const httpRequestDuration = once(
	'credit_chat_http_request_duration_seconds',
	() =>
		new Histogram({
			name: 'credit_chat_http_request_duration_seconds',
			help: 'Time until the response headers (a streamed reply goes on after), by route id and method.',
			labelNames: ['route', 'method'] as const,
			buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
		})
);

export const repliesSettled = once(
	'credit_chat_replies_settled_total',
	() =>
		new Counter({
			name: 'credit_chat_replies_settled_total',
			help: 'Chat replies settled (billed), by model.',
			labelNames: ['model'] as const
		})
);

export const creditsCharged = once(
	'credit_chat_credits_charged_total',
	() =>
		new Counter({
			name: 'credit_chat_credits_charged_total',
			help: 'Credits charged for chat replies, by model.',
			labelNames: ['model'] as const
		})
);

export const tokens = once(
	'credit_chat_tokens_total',
	() =>
		new Counter({
			name: 'credit_chat_tokens_total',
			help: 'Tokens of settled chat replies, by model and kind (input, output).',
			labelNames: ['model', 'kind'] as const
		})
);

export const webhookDeliveries = once(
	'credit_chat_webhook_deliveries_total',
	() =>
		new Counter({
			name: 'credit_chat_webhook_deliveries_total',
			help: 'Polar webhook deliveries by outcome: processed, ignored, failed, duplicate, invalid_signature, invalid_payload, error.',
			labelNames: ['outcome'] as const
		})
);

export const jobRuns = once(
	'credit_chat_job_runs_total',
	() =>
		new Counter({
			name: 'credit_chat_job_runs_total',
			help: 'Runs of the background jobs (sweep, polar-reconcile), by job and outcome (ok, failed).',
			labelNames: ['job', 'outcome'] as const
		})
);

export const repliesStreaming = once(
	'credit_chat_replies_streaming',
	() =>
		new Gauge({
			name: 'credit_chat_replies_streaming',
			help: 'Chat replies running now (summed over the workers).',
			collect() {
				this.set(runningCount());
			}
		})
);

// Both read the same database rows in every worker: the instance's value is one of them, not
// their sum ('max' rather than 'first' so that a worker whose count failed does not win).
let pendingRead: Promise<{ holds: number; credits: number } | null> | null = null;
/** One database count per scrape and worker, shared by the two gauges below. */
function readPending() {
	pendingRead ??= countPendingHolds().finally(() => {
		pendingRead = null;
	});
	return pendingRead;
}

export const holdsPending = once(
	'credit_chat_holds_pending',
	() =>
		new Gauge({
			name: 'credit_chat_holds_pending',
			help: 'Credit holds pending now (replies reserved and not yet settled), in the database.',
			aggregator: 'max',
			async collect() {
				const pending = await readPending();
				if (pending) this.set(pending.holds);
				else this.reset();
			}
		})
);

export const creditsHeld = once(
	'credit_chat_credits_held',
	() =>
		new Gauge({
			name: 'credit_chat_credits_held',
			help: 'Credits set aside by pending holds now, in the database.',
			aggregator: 'max',
			async collect() {
				const pending = await readPending();
				if (pending) this.set(pending.credits);
				else this.reset();
			}
		})
);

const holder = globalThis as typeof globalThis & { __creditChatMetrics?: boolean };
if (!holder.__creditChatMetrics) {
	holder.__creditChatMetrics = true;
	// Process CPU, memory, event loop lag, GC: summed (or averaged, as prom-client declares) per instance.
	collectDefaultMetrics();
	if (cluster.isWorker) {
		// Makes this worker answer the primary's requests for its metrics (prom-client listens only
		// once an AggregatorRegistry exists). That listener holds the IPC channel open, which
		// would keep a drained worker alive: let go of it when the server shuts down.
		new AggregatorRegistry();
		process.once('sveltekit:shutdown', () => process.channel?.unref());
	}
}
