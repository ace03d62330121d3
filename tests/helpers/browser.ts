import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

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
 * `@sparticuz/chromium` npm package ships.
 */
export async function launchChromium(): Promise<Browser> {
	if (existsSync(DEBIAN_CHROMIUM)) {
		return chromium.launch({ executablePath: DEBIAN_CHROMIUM, args: QUIET_FLAGS });
	}
	const { default: sparticuz } = await import('@sparticuz/chromium');
	return chromium.launch({ executablePath: await sparticuz.executablePath(), args: QUIET_FLAGS });
}

export const SCREENSHOT_DIR = 'test-results/screenshots';

export function screenshotPath(name: string): string {
	mkdirSync(SCREENSHOT_DIR, { recursive: true });
	return `${SCREENSHOT_DIR}/${name}.png`;
}
