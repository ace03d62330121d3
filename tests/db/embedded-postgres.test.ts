import { createServer, type Server } from 'node:net';
import {
	chmod,
	mkdir,
	mkdtemp,
	readdir,
	readFile,
	readlink,
	rm,
	stat,
	symlink,
	writeFile
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import postgres from 'postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../helpers/embedded-postgres';
import { freePort } from '../helpers/ports';
import {
	assertReachableByAll,
	cachedCopy,
	postgresBinaries,
	type PostgresBinaries
} from '../helpers/postgres-binaries';
import { TestDependencyError } from '../helpers/test-dependency-error';

// How the test run gets its PostgreSQL from a clone in any folder, as root or not: the binary
// cache and the starter's failures. It needs no test database: it lives in the `db` project
// because that project runs the integration suites.

const isRoot = process.getuid?.() === 0;
const scratch: string[] = [];
afterEach(async () => {
	for (let dir = scratch.pop(); dir; dir = scratch.pop()) {
		await chmod(dir, 0o700).catch(() => {});
		await rm(dir, { recursive: true, force: true });
	}
});

/** A fresh folder under the temp folder, mode 755 (as /tmp's children usually are), removed after. */
async function folder(mode = 0o755): Promise<string> {
	const dir = await mkdtemp(join(tmpdir(), 'credit-chat-test-'));
	await chmod(dir, mode);
	scratch.push(dir);
	return dir;
}

/** A binaries-like tree as a root with umask 077 might have installed it: nothing for others. */
async function privateTree(): Promise<string> {
	const source = join(await folder(0o700), 'native');
	await mkdir(join(source, 'bin'), { recursive: true, mode: 0o700 });
	await mkdir(join(source, 'lib'), { mode: 0o700 });
	await writeFile(join(source, 'bin', 'initdb'), '#!/bin/sh\necho 18\n', { mode: 0o700 });
	await writeFile(join(source, 'lib', 'libpq.so.5.18'), 'library', { mode: 0o600 });
	await symlink('libpq.so.5.18', join(source, 'lib', 'libpq.so.5'));
	return source;
}

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

function expectOneClearLine(error: unknown, pattern: RegExp) {
	expect(error).toBeInstanceOf(TestDependencyError);
	const { message, stack } = error as Error;
	expect(message).toMatch(pattern);
	expect(message).toMatch(/\. What to do: .+\.$/);
	expect(message).not.toContain('\n');
	expect(stack).not.toContain('\n');
}

describe('the PostgreSQL binary cache', () => {
	it('copies once, readable by all and executable where the owner could execute', async () => {
		const source = await privateTree();
		const base = await folder();

		const copy = await cachedCopy(source, base, 'pg-test');

		expect(copy).toBe(join(base, 'pg-test'));
		expect(await modeOf(copy)).toBe(0o755);
		expect(await modeOf(join(copy, 'bin'))).toBe(0o755);
		expect(await modeOf(join(copy, 'bin', 'initdb'))).toBe(0o755);
		expect(await modeOf(join(copy, 'lib', 'libpq.so.5.18'))).toBe(0o644);
		expect(await readlink(join(copy, 'lib', 'libpq.so.5'))).toBe('libpq.so.5.18');
		expect(await readFile(join(copy, 'lib', 'libpq.so.5'), 'utf8')).toBe('library');
		expect(await readdir(base)).toEqual(['pg-test']);
	});

	it('reuses a finished copy instead of copying again', async () => {
		const source = await privateTree();
		const base = await folder();
		await cachedCopy(source, base, 'pg-test');
		await writeFile(join(source, 'bin', 'added-later'), 'x');

		const again = await cachedCopy(source, base, 'pg-test');

		expect(again).toBe(join(base, 'pg-test'));
		await expect(stat(join(again, 'bin', 'added-later'))).rejects.toThrow(/ENOENT/);
	});

	it('ends with one complete copy when several processes copy at once', async () => {
		const source = await privateTree();
		const base = await folder();

		const copies = await Promise.all(
			Array.from({ length: 6 }, () => cachedCopy(source, base, 'pg-test'))
		);

		expect(new Set(copies)).toEqual(new Set([join(base, 'pg-test')]));
		expect(await readdir(base)).toEqual(['pg-test']);
		expect(await readFile(join(base, 'pg-test', 'bin', 'initdb'), 'utf8')).toContain('echo 18');
	});

	it('replaces a copy that never finished', async () => {
		const source = await privateTree();
		const base = await folder();
		await mkdir(join(base, 'pg-test', 'bin'), { recursive: true });

		const copy = await cachedCopy(source, base, 'pg-test');

		expect(await readFile(join(copy, 'bin', 'initdb'), 'utf8')).toContain('echo 18');
		expect(await readdir(base)).toEqual(['pg-test']);
	});

	it('refuses a cache anyone may write into, since its programs are run', async () => {
		const source = await privateTree();
		const base = await folder();
		const copy = await cachedCopy(source, base, 'pg-test');
		await chmod(copy, 0o777);

		const error = await cachedCopy(source, base, 'pg-test').catch((e: unknown) => e);

		expectOneClearLine(error, /the binary cache .*pg-test belongs to another user or is writable/);
		expect((error as Error).message).toContain(`rm -rf ${copy}`);
	});

	it('refuses a cache folder that other users cannot enter, naming TMPDIR', async () => {
		const closed = await folder(0o700);
		const base = join(closed, 'tmp');
		await mkdir(base, { mode: 0o755 });

		const error = await assertReachableByAll(base).catch((e: unknown) => e);

		expectOneClearLine(
			error,
			new RegExp(`${closed} cannot be entered by other users \\(mode 700\\)`)
		);
		expect((error as Error).message).toContain('point TMPDIR at a folder everyone can enter');
		await expect(assertReachableByAll(await folder())).resolves.toBeUndefined();
	});

	it.runIf(isRoot)(
		'as root, serves the installed binaries from the shared temp cache',
		async () => {
			const binaries = await postgresBinaries();

			expect(dirname(dirname(binaries.initdb))).toMatch(
				new RegExp(`^${tmpdir()}/credit-chat-pg-[^/]+-${process.platform}-${process.arch}$`)
			);
			expect(await modeOf(binaries.postgres)).toBe(0o755);
		}
	);
});

describe('starting the embedded PostgreSQL', () => {
	let installed: PostgresBinaries;
	const binaries = async () => (installed ??= await postgresBinaries());

	it('starts a server that answers, and stop() removes it with its data folder', async () => {
		const server = await startEmbeddedPostgres({ durable: false, override: 'TEST_DATABASE_URL' });
		const sql = postgres(server.url, { max: 1, onnotice: () => {} });
		let dataDir: string;
		try {
			const [row] = await sql<{ dir: string; version: string }[]>`
				select current_setting('data_directory') as dir, current_setting('server_version_num') as version`;
			dataDir = row.dir;
			expect(Number(row.version)).toBeGreaterThanOrEqual(180000);
			expect(dataDir.startsWith(tmpdir())).toBe(true);
		} finally {
			await sql.end();
			await server.stop();
		}
		await expect(stat(dirname(dataDir))).rejects.toThrow(/ENOENT/);
		const after = postgres(server.url, { max: 1, connect_timeout: 2, onnotice: () => {} });
		await expect(after`select 1`).rejects.toThrow(/ECONNREFUSED/);
		await after.end();
	});

	it('reports a binary that cannot be run as one clear line, not an unhandled error', async () => {
		const bin = join(await folder(), 'bin');
		await mkdir(bin);
		// Present but not executable, for root as much as for anyone.
		await writeFile(join(bin, 'initdb'), '#!/bin/sh\n', { mode: 0o644 });

		const error = await startEmbeddedPostgres({
			durable: false,
			override: 'TEST_DATABASE_URL',
			binaries: { initdb: join(bin, 'initdb'), postgres: (await binaries()).postgres }
		}).catch((e: unknown) => e);

		expectOneClearLine(
			error,
			/^PostgreSQL could not start: initdb .*\/bin\/initdb.* could not be run: spawn .*\/bin\/initdb EACCES\. /
		);
		expect((error as Error).message).toContain('set TEST_DATABASE_URL to a PostgreSQL');
	});

	it('reports a temp folder it cannot use as one clear line naming TMPDIR', async () => {
		const given = await binaries();
		const saved = process.env.TMPDIR;
		process.env.TMPDIR = '/nonexistent/credit-chat-tmp';
		try {
			const error = await startEmbeddedPostgres({
				durable: false,
				override: 'TEST_DATABASE_URL',
				binaries: given
			}).catch((e: unknown) => e);

			expectOneClearLine(error, /\/nonexistent.*ENOENT.*point TMPDIR at a folder/);
		} finally {
			if (saved === undefined) delete process.env.TMPDIR;
			else process.env.TMPDIR = saved;
		}
	});

	it.runIf(isRoot)(
		'reports binaries inside a private folder (the mode-700 clone) clearly',
		async () => {
			// What a clone in `mktemp -d` used to hit: the postgres user cannot enter the folder.
			const closed = await folder(0o700);
			await mkdir(join(closed, 'bin'));
			await symlink((await binaries()).initdb, join(closed, 'bin', 'initdb'));

			const error = await startEmbeddedPostgres({
				durable: false,
				override: 'BENCH_DATABASE_URL',
				binaries: { initdb: join(closed, 'bin', 'initdb'), postgres: (await binaries()).postgres }
			}).catch((e: unknown) => e);

			expectOneClearLine(
				error,
				/initdb .* \(run as the postgres user\) could not be run: .*EACCES/
			);
			expect((error as Error).message).toContain('set BENCH_DATABASE_URL');
		}
	);

	it('reports a server that dies while starting with its own last words', async () => {
		const port = await freePort();
		const squatter: Server = createServer();
		await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
		try {
			const error = await startEmbeddedPostgres({
				durable: false,
				override: 'TEST_DATABASE_URL',
				port
			}).catch((e: unknown) => e);

			expectOneClearLine(
				error,
				/^PostgreSQL could not start: the server exited while starting \(exit 1\): .*Address already in use.*FATAL: could not create any TCP\/IP sockets\. /
			);
		} finally {
			await new Promise((resolve) => squatter.close(resolve));
		}
	});
});
