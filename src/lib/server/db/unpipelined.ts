import type { Sql } from 'postgres';

/**
 * A postgres.js client that never pipelines, for use behind a transaction-mode pooler.
 *
 * postgres.js writes a query onto a connection that is still waiting for the answer to the
 * previous one whenever no connection is free and that previous query took no parameters (it
 * leaves the connection "busy", i.e. pipelinable). PgBouncer (1.18 and the like) hands the
 * server connection back to its pool at the first ReadyForQuery outside a transaction unless
 * the client has sent another Sync; but a query with parameters and `prepare: false` starts with
 * Parse/Describe/Flush and no Sync. Its answer then arrives on a server connection that no longer
 * belongs to us ("got packet '1' from server when not linked"), is dropped, and the query waits
 * forever. (`max_pipeline: 0` would stop this, but postgres.js 3.4 then never reserves the
 * connection of `sql.begin`: porsager/postgres#1210.)
 *
 * So every query outside a transaction runs on a connection reserved for it alone (`reserve()`,
 * which waits for a free connection and never shares a busy one), and is released when it ends.
 * Transactions already run on a reserved connection. With no query on a shared connection,
 * postgres.js never has one to pipeline onto.
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
			return (...args: Parameters<Sql['unsafe']>) => new ReservedQuery(target, args);
		}
	});
}

/** The part of a postgres.js pending query drizzle uses: `.values()`, then awaiting it. */
class ReservedQuery implements PromiseLike<unknown> {
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
		this.#running ??= this.#run();
		return this.#running.then(onFulfilled, onRejected);
	}

	catch<B = never>(onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null) {
		return this.then(undefined, onRejected);
	}

	finally(onFinally?: (() => void) | null) {
		this.#running ??= this.#run();
		return this.#running.finally(onFinally);
	}

	async #run(): Promise<unknown> {
		const reserved = await this.client.reserve();
		try {
			const query = reserved.unsafe(...this.args);
			return await (this.#arrays ? query.values() : query);
		} finally {
			reserved.release();
		}
	}
}
