import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { sql, type SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { measurePool } from '../metrics/pool';
import * as schema from './schema';
import { preparedStatements } from './prepared';
import { unpipelined } from './unpipelined';

/** The one database type the app codes against, whichever driver is underneath. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
	db: Db;
	kind: 'postgres' | 'pglite';
	/** Applies every migration in `folder` that has not run yet. */
	migrate(folder: string): Promise<void>;
	close(): Promise<void>;
}

export interface DatabaseOptions {
	/** A PostgreSQL connection string; when absent the embedded PGlite database is used. */
	url?: string;
	/** Where PGlite keeps its files; `null` keeps it in memory (tests). */
	dataDir: string | null;
	/** Connections in the postgres.js pool. */
	maxConnections?: number;
	/** Named prepared statements (default on); off behind PgBouncer in transaction mode. */
	prepare?: boolean;
}

// Any constant works; it only has to be the same in every instance that migrates this database.
const MIGRATION_LOCK = 7_210_431;

export function openDatabase(options: DatabaseOptions): Database {
	return options.url
		? openPostgres(options.url, options.maxConnections ?? 10, options.prepare ?? true)
		: openPglite(options);
}

function openPostgres(url: string, max: number, prepare: boolean): Database {
	// `prepare: false` also overrides per-query prepares (drizzle's `.prepare(name)`).
	const client = postgres(url, {
		max,
		prepare,
		onnotice: () => {},
		// Prepared statements are planned for their parameters every run, as unnamed ones are: a
		// generic plan, which PostgreSQL may cache after five runs, fits the average user and not
		// necessarily the one with a million ledger rows.
		...(prepare ? { connection: { plan_cache_mode: 'force_custom_plan' } } : {})
	});
	// Every query a prepared statement: one round trip instead of two (see prepared.ts).
	// `prepare: false` means a transaction-mode pooler is in between, which loses the answers
	// of pipelined queries: there, postgres.js must never pipeline (see unpipelined.ts).
	const queries = prepare ? preparedStatements(client) : unpipelined(client);
	// Transactions are timed from asking to running: the pool wait (metrics/pool.ts).
	const db = drizzlePostgres(measurePool(queries, max), { schema }) as unknown as Db;
	return {
		db,
		kind: 'postgres',
		async migrate(folder) {
			// Several instances may start at once; the advisory lock lets exactly one migrate at a
			// time. It lives on a connection of its own, so a pool of one is not starved by it, and
			// in a transaction there: a transaction-level lock ends with its transaction, whereas a
			// session lock taken through a transaction-mode pooler (PgBouncer) would stay on the
			// pooled server connection after we disconnect, and block the next start for good.
			const lock = postgres(url, { max: 1, prepare, onnotice: () => {} });
			try {
				await lock.begin(async (tx) => {
					await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK})`;
					await migratePostgres(drizzlePostgres(client), { migrationsFolder: folder });
				});
			} finally {
				await lock.end({ timeout: 5 });
			}
		},
		close: () => client.end({ timeout: 5 })
	};
}

function openPglite({ dataDir }: DatabaseOptions): Database {
	// PGlite does not create missing parent folders itself.
	if (dataDir) mkdirSync(dataDir, { recursive: true });
	const release = dataDir ? lockDataDir(dataDir) : () => {};
	const client = dataDir ? new PGlite(dataDir) : new PGlite();
	const db = drizzlePglite(client, { schema }) as unknown as Db;
	return {
		db,
		kind: 'pglite',
		migrate: (folder) => migratePglite(drizzlePglite(client), { migrationsFolder: folder }),
		close: async () => {
			try {
				await client.close();
			} finally {
				release();
			}
		}
	};
}

/** Another live process has the embedded database open. */
export class DatabaseInUseError extends Error {
	constructor(
		readonly dataDir: string,
		readonly holder: { pid: number; command: string; since: string }
	) {
		super(
			`The embedded database is in use by a running server (${dataDir}: pid ${holder.pid}, ` +
				`${holder.command}, since ${holder.since}): stop it or set DATABASE_URL.`
		);
		this.name = 'DatabaseInUseError';
	}
}

/**
 * PGlite takes no lock of its own: a second process opens the same folder without complaint
 * and the two overwrite each other's pages. So whoever opens it (the server, a CLI) holds
 * `<dataDir>.lock` with its pid; a lock whose process is gone is taken over. Returns the
 * release function (also run on exit, since CLIs may `process.exit` without closing).
 */
function lockDataDir(dataDir: string): () => void {
	const path = `${dataDir}.lock`;
	const mine = JSON.stringify({
		pid: process.pid,
		command: process.argv
			.slice(1)
			.map((arg) => (arg.startsWith('/') ? basename(arg) : arg))
			.join(' '),
		since: new Date().toISOString()
	});
	for (let attempt = 0; attempt < 5; attempt++) {
		try {
			writeFileSync(path, mine, { flag: 'wx' });
			const release = () => {
				try {
					if (readFileSync(path, 'utf8') === mine) unlinkSync(path);
				} catch {
					// Already gone: nothing to release.
				}
			};
			process.once('exit', release);
			return release;
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
		}
		const holder = readLock(path);
		if (holder && holder.pid !== process.pid && isAlive(holder.pid)) {
			throw new DatabaseInUseError(dataDir, holder);
		}
		// Left by a process that died (or by this one): take it over.
		try {
			unlinkSync(path);
		} catch {
			// Another process removed it first; the next attempt decides.
		}
	}
	throw new Error(`Could not lock ${path}: it keeps reappearing.`);
}

function readLock(path: string): { pid: number; command: string; since: string } | null {
	try {
		const parsed = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
		if (typeof parsed.pid !== 'number') return null;
		return {
			pid: parsed.pid,
			command: String(parsed.command ?? 'unknown'),
			since: String(parsed.since ?? 'unknown')
		};
	} catch {
		// Unreadable or half-written: treated as stale.
		return null;
	}
}

function isAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		// EPERM: it exists but belongs to another user.
		return (error as NodeJS.ErrnoException).code === 'EPERM';
	}
}

/** Resolves when the database answers a trivial query. */
export async function ping(db: Db): Promise<void> {
	await db.execute(sql`select 1`);
}

/** Runs raw SQL and returns its rows; the two drivers shape `execute` results differently. */
export async function selectRows<T>(db: Db, query: SQL): Promise<T[]> {
	const result: unknown = await db.execute(query);
	return Array.isArray(result) ? (result as T[]) : (result as { rows: T[] }).rows;
}
