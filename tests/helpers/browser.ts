import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { TestDependencyError } from './test-dependency-error';

const DEBIAN_CHROMIUM = '/usr/bin/chromium';

// The flags keep a headless Chromium from reaching for the network this machine does not have.
// (@sparticuz/chromium's own `args` are made for AWS Lambda and include --disable-web-security,
// which drops the Origin header and so would hide CSRF bugs; they are deliberately not used.)
const QUIET_FLAGS = [
	'--no-sandbox',
	'--disable-gpu',
	'--disable-quic',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
	'--no-first-run'
];

/**
 * A real Chromium that needs no download: Debian's when installed, otherwise the build that the
 * `@sparticuz/chromium` npm package ships (unpacked once to the temp folder as `chromium`).
 * Failing to start is a `TestDependencyError`: one line with the cause and what to do.
 */
export async function launchChromium(): Promise<Browser> {
	const debian = existsSync(DEBIAN_CHROMIUM);
	try {
		let executablePath = DEBIAN_CHROMIUM;
		if (!debian) {
			const { default: sparticuz } = await import('@sparticuz/chromium');
			executablePath = await sparticuz.executablePath();
		}
		return await chromium.launch({ executablePath, args: QUIET_FLAGS });
	} catch (error) {
		const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
		throw new TestDependencyError(
			`Chromium (${debian ? DEBIAN_CHROMIUM : '@sparticuz/chromium'})`,
			message,
			`run \`npm ci\` again; if ${join(tmpdir(), 'chromium')} exists from another user or an older version, remove it; or install Debian's chromium (apt-get install chromium)`
		);
	}
}

export const SCREENSHOT_DIR = 'test-results/screenshots';

export function screenshotPath(name: string): string {
	mkdirSync(SCREENSHOT_DIR, { recursive: true });
	return `${SCREENSHOT_DIR}/${name}.png`;
}
