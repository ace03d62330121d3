import { afterAll, beforeAll, inject } from 'vitest';
import { openDatabase, type Database } from '../../src/lib/server/db/client';
import { createScratchDatabase } from './scratch-database';

export const databaseKinds = ['pglite', 'postgres'] as const;
export type DatabaseKind = (typeof databaseKinds)[number];

/** Creates an empty database on the test PostgreSQL server; `drop()` removes it. */
export function createPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
	return createScratchDatabase(inject('postgresUrl'), 'cc_test');
}

/** Opens a fresh, migrated database of this kind; each test file gets its own. */
export async function openTestDatabase(
	kind: DatabaseKind,
	options: { maxConnections?: number } = {}
): Promise<Database & { url?: string }> {
	if (kind === 'pglite') {
		const database = openDatabase({ dataDir: null });
		await database.migrate('drizzle');
		return database;
	}
	const created = await createPostgresDatabase();
	const database = openDatabase({ url: created.url, dataDir: null, ...options });
	await database.migrate('drizzle');
	return {
		...database,
		url: created.url,
		async close() {
			await database.close();
			await created.drop();
		}
	};
}

/**
 * Registers a fresh database for the surrounding `describe` block and returns a getter for it.
 * Use inside `describe.each(databaseKinds)`.
 */
export function useTestDatabase(kind: DatabaseKind, options: { maxConnections?: number } = {}) {
	let database: (Database & { url?: string }) | undefined;
	beforeAll(async () => {
		database = await openTestDatabase(kind, options);
	});
	afterAll(async () => {
		await database?.close();
	});
	return () => {
		if (!database) throw new Error('The test database is used before beforeAll opened it.');
		return database;
	};
}
