import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StartupError } from '../config';
import { resolveAuthSecret } from './secret';

describe('resolveAuthSecret', () => {
	const dirs: string[] = [];
	const dataDir = () => {
		const dir = join(mkdtempSync(join(tmpdir(), 'cc-secret-')), 'nested');
		dirs.push(dir);
		return dir;
	};
	afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

	const good = 'x'.repeat(32);

	it('uses a configured secret of 32 characters or more', () => {
		expect(resolveAuthSecret({ configured: good, production: true, dataDir: dataDir() })).toBe(
			good
		);
	});

	it('stops production when the secret is missing or short', () => {
		expect(() =>
			resolveAuthSecret({ configured: undefined, production: true, dataDir: dataDir() })
		).toThrow(StartupError);
		expect(() =>
			resolveAuthSecret({ configured: 'short', production: true, dataDir: dataDir() })
		).toThrow(/only 5 characters/);
	});

	it('generates a development secret once and keeps it private in the data folder', () => {
		const dir = dataDir();
		const first = resolveAuthSecret({ configured: undefined, production: false, dataDir: dir });
		const second = resolveAuthSecret({ configured: 'short', production: false, dataDir: dir });
		expect(first.length).toBeGreaterThanOrEqual(32);
		expect(second).toBe(first);
		expect(readFileSync(join(dir, 'auth-secret'), 'utf8').trim()).toBe(first);
		expect(statSync(join(dir, 'auth-secret')).mode & 0o777).toBe(0o600);
	});
});
