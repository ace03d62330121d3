import type { Sql, TransactionSql } from 'postgres';

/**
 * A postgres.js client on which every query drizzle runs is a prepared statement.
 *
 * drizzle-orm runs each query that was not given a name (nearly all of them) through
 * `unsafe(text, parameters, { prepare: false })`. For a query with parameters postgres.js then
 * sends Parse/Describe, waits for the parameter types, and only then Bind/Execute: two round
 * trips per query, and the server parses and plans it anew every time. Prepared, the statement
 * is cached per connection (by its text and parameter types): after its first use a query is one
 * round trip, and the server reuses its parse (db/client.ts has it plan each run for its
 * parameters, as before). postgres.js prepares again by itself when a migration invalidates a
 * cached statement.
 *
 * The cache holds one statement per distinct query text per connection, and postgres.js closes
 * each connection after 30-60 minutes (`max_lifetime`), so the queries whose text varies (an
 * `in` list of varying length) cost little. Not for transaction-mode poolers (PgBouncer): a
 * prepared statement lives on one server connection, which such a pooler does not keep for us;
 * there `DATABASE_PREPARE=false` leaves drizzle's default alone.
 *
 * Transactions (`begin`) and savepoints hand their callback a client of the same kind.
 */
export function preparedStatements<T extends Sql | TransactionSql>(client: T): T {
	return new Proxy(client, {
		get(target, property, receiver) {
			const value = Reflect.get(target, property, receiver);
			if (typeof value !== 'function') return value;
			if (property === 'unsafe') {
				return (text: string, parameters?: unknown, options?: object) =>
					Array.isArray(parameters)
						? target.unsafe(text, parameters as never[], { ...options, prepare: true })
						: (target.unsafe as (...args: unknown[]) => unknown)(text, parameters, options);
			}
			if (property === 'begin' || property === 'savepoint') {
				return (...args: unknown[]) => {
					const callback = args.at(-1);
					if (typeof callback === 'function') {
						args[args.length - 1] = (tx: TransactionSql) => callback(preparedStatements(tx));
					}
					return value.apply(target, args);
				};
			}
			return value;
		}
	});
}
