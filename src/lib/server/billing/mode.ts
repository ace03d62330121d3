import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StartupError, type PolarConfig } from '../config';

/**
 * How purchases work on this server:
 * - `polar`: real checkouts through Polar (POLAR_ACCESS_TOKEN is set);
 * - `test`: no Polar; "Buy" signs an `order.paid` event locally and runs it through the webhook
 *   handler. The default in development, and only on request in production, because it hands
 *   out credits for free;
 * - `off`: production without Polar: the buy page says purchases are unavailable.
 */
export type BillingMode = 'polar' | 'test' | 'off';

export interface Billing {
	mode: BillingMode;
	/** Verifies webhook deliveries (and signs the simulated ones in test mode). */
	webhookSecret: string;
}

export function resolveBilling(
	polar: PolarConfig,
	options: { production: boolean; dataDir: string }
): Billing {
	if (polar.accessToken && polar.testMode) {
		throw new StartupError(
			'POLAR_TEST_MODE hands out free credits; it cannot be on together with POLAR_ACCESS_TOKEN.'
		);
	}
	const mode: BillingMode = polar.accessToken
		? 'polar'
		: (polar.testMode ?? !options.production)
			? 'test'
			: 'off';
	if (polar.webhookSecret) return { mode, webhookSecret: polar.webhookSecret };
	if (mode === 'polar' && options.production) {
		throw new StartupError(
			'POLAR_WEBHOOK_SECRET is not set; copy it from the webhook endpoint in your Polar dashboard.'
		);
	}
	return { mode, webhookSecret: localWebhookSecret(options.dataDir) };
}

/** A Standard Webhooks secret generated once and kept in the data folder. */
function localWebhookSecret(dataDir: string): string {
	const file = join(dataDir, 'polar-webhook-secret');
	if (existsSync(file)) return readFileSync(file, 'utf8').trim();
	mkdirSync(dataDir, { recursive: true });
	const secret = `whsec_${randomBytes(32).toString('base64')}`;
	writeFileSync(file, secret + '\n', { mode: 0o600 });
	return secret;
}
