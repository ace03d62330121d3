import { existsSync } from 'node:fs';
import { readConfig, type Config } from '../lib/server/config';
import { openDatabase, type Database } from '../lib/server/db/client';

/**
 * What every command-line tool needs: the same configuration the server reads (`.env` included)
 * and the same database, migrated, so a CLI run on a fresh checkout just works.
 */
export async function openCliContext(): Promise<{ config: Config; database: Database }> {
	if (existsSync('.env')) process.loadEnvFile('.env');
	const config = readConfig(process.env);
	const database = openDatabase({
		url: config.databaseUrl,
		dataDir: `${config.dataDir}/pglite`,
		maxConnections: 2
	});
	await database.migrate(config.migrationsDir);
	return { config, database };
}

/** Prints a one-line error and exits non-zero: CLIs never show a stack trace for a usage mistake. */
export function fail(message: string): never {
	console.error(message);
	process.exit(1);
}
