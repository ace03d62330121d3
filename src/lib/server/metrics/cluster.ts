import cluster from 'node:cluster';
import { register } from 'prom-client';

/** Must match src/cluster.js. */
const SCRAPE_REQUEST = 'credit-chat:metrics-scrape';
const SCRAPE_ANSWER = 'credit-chat:metrics-scrape-answer';
/** Longer than prom-client's own 5 s per aggregation, so its error is the one reported. */
const ANSWER_TIMEOUT_MS = 7_000;

interface ScrapeAnswer {
	type: typeof SCRAPE_ANSWER;
	id: number;
	text?: string;
	error?: string;
}

const waiting = new Map<number, (answer: ScrapeAnswer) => void>();
let nextId = 0;
let listening = false;

/**
 * The metrics of the whole instance in Prometheus text format. Under `npm start` (src/cluster.js)
 * the worker that received the scrape asks the primary, which collects every worker's registry
 * (prom-client's AggregatorRegistry, this worker included) and sums or otherwise aggregates
 * them: a scrape of any worker sees the instance, whichever worker the load balancer picked.
 * Why the primary and not this worker asking its siblings: only the primary knows all of them.
 * Under plain `node build` it is this process's registry.
 */
export async function instanceMetrics(): Promise<{ text: string; contentType: string }> {
	const contentType = register.contentType;
	if (!cluster.isWorker || !process.send) return { text: await register.metrics(), contentType };
	if (!listening) {
		listening = true;
		process.on('message', (message: ScrapeAnswer) => {
			if (message?.type === SCRAPE_ANSWER) waiting.get(message.id)?.(message);
		});
	}
	const id = nextId++;
	const answer = await new Promise<ScrapeAnswer>((resolve) => {
		const timer = setTimeout(
			() => resolve({ type: SCRAPE_ANSWER, id, error: 'the primary did not answer in time' }),
			ANSWER_TIMEOUT_MS
		);
		waiting.set(id, (message) => {
			clearTimeout(timer);
			resolve(message);
		});
		process.send!({ type: SCRAPE_REQUEST, id });
	}).finally(() => waiting.delete(id));
	if (answer.text === undefined) {
		throw new Error(`Could not aggregate the workers' metrics: ${answer.error ?? 'no answer'}`);
	}
	return { text: answer.text, contentType };
}
