import type { Sql } from 'postgres';

/**
 * A postgres.js client that never pipelines, for use behind a transaction-mode pooler.
 *
 * When no connection is free, postgres.js writes the next query onto a connection that is still
 * running a query without parameters (only such a query leaves its connection open to more: one
 * with parameters waits for its Describe first, and a transaction's connection is reserved).
 * PgBouncer (1.18 and the like) hands the server connection back to its pool at the first
 * ReadyForQuery outside a transaction unless the client has sent another Sync; but with
 * `prepare: false` a query with parameters starts with Parse/Describe/Flush and no Sync. Its
 * answer then comes from a server connection that is no longer ours ("got packet '1' from server
 * when not linked"), is dropped, and the query waits forever. (`max_pipeline: 0` would stop the
 * pipelining, but postgres.js 3.4 then never reserves the connection of `sql.begin`:
 * porsager/postgres#1210.)
 *
 * So a query without parameters runs in a transaction of its own here: on a reserved connection,
 * which nothing else is written to. Queries with parameters and transactions are left alone.
 *
 * Only `unsafe` is wrapped: it is what drizzle calls for every query outside a transaction
 * (awaited at once, sometimes after `.values()`). Tagged-template queries on the client itself
 * are not: the app runs none.
 */
export function unpipelined(client: Sql): Sql {
	return new Proxy(client, {
		get(target, property, receiver) {
			const value = Reflect.get(target, property, receiver);
			if (property !== 'unsafe') return value;
			return (...args: Parameters<Sql['unsafe']>) =>
				hasParameters(args) ? target.unsafe(...args) : new OwnTransactionQuery(target, args);
		}
	});
}

function hasParameters([, parameters]: Parameters<Sql['unsafe']>): boolean {
	return Array.isArray(parameters) && parameters.length > 0;
}

/** The part of a postgres.js pending query drizzle uses: `.values()`, then awaiting it. */
class OwnTransactionQuery implements PromiseLike<unknown> {
	#arrays = false;
	#running: Promise<unknown> | undefined;

	constructor(
		private readonly client: Sql,
		private readonly args: Parameters<Sql['unsafe']>
	) {}

	values(): this {
		this.#arrays = true;
		return this;
	}

	then<A = unknown, B = never>(
		onFulfilled?: ((value: unknown) => A | PromiseLike<A>) | null,
		onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null
	): Promise<A | B> {
		return this.#run().then(onFulfilled, onRejected);
	}

	catch<B = never>(onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null) {
		return this.then(undefined, onRejected);
	}

	finally(onFinally?: (() => void) | null) {
		return this.#run().finally(onFinally);
	}

	#run(): Promise<unknown> {
		this.#running ??= this.client.begin(async (tx) => {
			const query = tx.unsafe(...this.args);
			return this.#arrays ? await query.values() : await query;
		});
		return this.#running;
	}
}
