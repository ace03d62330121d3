import { Gauge, Histogram, register } from 'prom-client';

/**
 * How long the app waits for the database, as far as postgres.js lets us see. It has no hook for
 * "waiting for a free connection", but a transaction must have a connection of its own: the
 * time from asking for one (`sql.begin`) until its callback runs is the wait for a free pool
 * connection plus the BEGIN round trip: what a busy pool costs the multi-statement writes (grants,
 * refunds, adjustments). A reply's writes are single statements (among them the SQL functions
 * chat_start and credit_settle) and, like other plain queries, are not timed here: their latency
 * shows in time to first token and in the request durations.
 *
 * Kept apart from the other metrics so that db/client.ts imports nothing but prom-client.
 */
export const transactionStartSeconds =
	(register.getSingleMetric('credit_chat_db_transaction_start_seconds') as Histogram | undefined) ??
	new Histogram({
		name: 'credit_chat_db_transaction_start_seconds',
		help: 'Time from asking postgres.js for a transaction until it runs: waiting for a free pool connection plus the BEGIN round trip.',
		buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
	});

export const transactionsInFlight =
	(register.getSingleMetric('credit_chat_db_transactions_in_flight') as Gauge | undefined) ??
	new Gauge({
		name: 'credit_chat_db_transactions_in_flight',
		help: 'Transactions asked for or running now; above credit_chat_db_pool_connections_max they queue for a connection.'
	});

export const poolConnectionsMax =
	(register.getSingleMetric('credit_chat_db_pool_connections_max') as Gauge | undefined) ??
	new Gauge({
		name: 'credit_chat_db_pool_connections_max',
		help: 'Connections the postgres.js pools may open (summed over the workers of the instance).'
	});

/**
 * Wraps a postgres.js client so that its transactions are measured; everything else passes
 * through untouched (drizzle reads and even adjusts `options` on the client it is given).
 */
export function measurePool<T extends object>(client: T, max: number): T {
	poolConnectionsMax.inc(max);
	return new Proxy(client, {
		get(target, property, receiver) {
			const value = Reflect.get(target, property, receiver);
			if (property !== 'begin' || typeof value !== 'function') return value;
			return (...args: unknown[]) => {
				const callback = args.at(-1);
				if (typeof callback !== 'function') return value.apply(target, args);
				const asked = performance.now();
				let started = false;
				transactionsInFlight.inc();
				args[args.length - 1] = (...inner: unknown[]) => {
					if (!started) {
						started = true;
						transactionStartSeconds.observe((performance.now() - asked) / 1000);
					}
					return callback(...inner);
				};
				const result = value.apply(target, args) as Promise<unknown>;
				return result.finally(() => transactionsInFlight.dec());
			};
		}
	});
}
