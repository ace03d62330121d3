import { existsSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readConfig, type Config } from '../lib/server/config';
import { DatabaseInUseError, openDatabase, type Database } from '../lib/server/db/client';

/**
 * What every command-line tool needs: the same configuration the server reads (`.env` included)
 * and the same database, migrated, so a CLI run on a fresh checkout just works. The embedded
 * database admits one process at a time: while a server has it open, this says so and exits.
 */
export async function openCliContext(): Promise<{ config: Config; database: Database }> {
	if (existsSync('.env')) process.loadEnvFile('.env');
	const config = readConfig(process.env);
	let database: Database;
	try {
		database = openDatabase({
			url: config.databaseUrl,
			dataDir: `${config.dataDir}/pglite`,
			maxConnections: 2,
			prepare: config.databasePrepare
		});
	} catch (error) {
		if (error instanceof DatabaseInUseError) fail(error.message);
		throw error;
	}
	await database.migrate(config.migrationsDir);
	return { config, database };
}

/** Prints a one-line error and exits non-zero: CLIs never show a stack trace for a usage mistake. */
export function fail(message: string): never {
	console.error(message);
	process.exit(1);
}

/** A mistake in the command line itself: the problem, the usage, exit code 2 (as shells do). */
export function usageError(message: string, usage: string): never {
	console.error(`${message}\n\n${usage}`);
	process.exit(2);
}

/**
 * `parseArgs` that answers an unknown option or a missing value with the usage text and exit
 * code 2, instead of Node's stack trace.
 */
export function parseCliArgs<T extends ParseArgsConfig>(config: T, usage: string) {
	try {
		return parseArgs(config);
	} catch (error) {
		const code = (error as { code?: unknown }).code;
		if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
			usageError((error as Error).message, usage);
		}
		throw error;
	}
}
