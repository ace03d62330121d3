import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StartupError, type PolarConfig } from '../config';
import { resolveBilling } from './mode';

const polar = (overrides: Partial<PolarConfig> = {}): PolarConfig => ({
	accessToken: undefined,
	server: 'sandbox',
	apiUrl: undefined,
	webhookSecret: undefined,
	testMode: undefined,
	reconcileIntervalSeconds: 0,
	...overrides
});

describe('resolveBilling', () => {
	const dataDir = mkdtempSync(join(tmpdir(), 'billing-mode-'));

	it('is test mode in development and off in production when there is no token', () => {
		expect(resolveBilling(polar(), { production: false, dataDir }).mode).toBe('test');
		expect(resolveBilling(polar(), { production: true, dataDir }).mode).toBe('off');
		expect(resolveBilling(polar({ testMode: true }), { production: true, dataDir }).mode).toBe(
			'test'
		);
		expect(resolveBilling(polar({ testMode: false }), { production: false, dataDir }).mode).toBe(
			'off'
		);
	});

	it('uses Polar with a token, and refuses test mode next to it', () => {
		const withToken = polar({ accessToken: 'polar_oat_x', webhookSecret: 'whsec_abc' });
		expect(resolveBilling(withToken, { production: true, dataDir })).toEqual({
			mode: 'polar',
			webhookSecret: 'whsec_abc'
		});
		expect(() =>
			resolveBilling({ ...withToken, testMode: true }, { production: false, dataDir })
		).toThrow(StartupError);
	});

	it('requires the webhook secret with a token in production; generates and keeps one otherwise', () => {
		expect(() =>
			resolveBilling(polar({ accessToken: 'polar_oat_x' }), { production: true, dataDir })
		).toThrow(/POLAR_WEBHOOK_SECRET is not set/);
		const first = resolveBilling(polar(), { production: false, dataDir }).webhookSecret;
		expect(first).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
		expect(resolveBilling(polar(), { production: false, dataDir }).webhookSecret).toBe(first);
		expect(readFileSync(join(dataDir, 'polar-webhook-secret'), 'utf8').trim()).toBe(first);
	});
});
