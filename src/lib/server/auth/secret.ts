import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { StartupError } from '../config';

export const MIN_SECRET_LENGTH = 32;

/**
 * The secret better-auth signs sessions with. Production must configure a real one; development
 * gets a random secret generated once and kept in the data folder, so sessions survive restarts.
 */
export function resolveAuthSecret(options: {
	configured: string | undefined;
	production: boolean;
	dataDir: string;
}): string {
	const { configured, production, dataDir } = options;
	if (configured && configured.length >= MIN_SECRET_LENGTH) return configured;
	if (production) {
		throw new StartupError(
			`BETTER_AUTH_SECRET is ${configured ? `only ${configured.length} characters` : 'not set'}; ` +
				`set it to at least ${MIN_SECRET_LENGTH} random characters (e.g. \`openssl rand -base64 32\`).`
		);
	}
	const file = join(dataDir, 'auth-secret');
	if (existsSync(file)) return readFileSync(file, 'utf8').trim();
	mkdirSync(dataDir, { recursive: true });
	const secret = randomBytes(32).toString('base64url');
	writeFileSync(file, secret + '\n', { mode: 0o600 });
	return secret;
}
