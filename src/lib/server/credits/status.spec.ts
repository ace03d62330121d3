import { describe, expect, it } from 'vitest';
import { packageStatus } from './status';

const now = new Date('2026-11-24T12:00:00Z');
const past = new Date(now.getTime() - 1000);
const future = new Date(now.getTime() + 1000);
const pkg = (remaining: number, revoked = 0, expired = 0, expiresAt: Date | null = null) => ({
	remainingCredits: remaining,
	revokedCredits: revoked,
	expiredCredits: expired,
	expiresAt
});

describe('packageStatus', () => {
	it.each([
		['active', pkg(5, 0, 0, future)],
		['active', pkg(5, 2)],
		['depleted', pkg(0)],
		['depleted', pkg(0, 0, 0, past)],
		['expired', pkg(5, 0, 0, past)],
		['expired', pkg(0, 0, 5, past)],
		['revoked', pkg(0, 10)],
		['expired', pkg(0, 3, 4, past)],
		['frozen', { ...pkg(5, 0, 0, future), frozenAt: past }],
		// Frozen says "paused": only while there is something to pause and it still counts.
		['depleted', { ...pkg(0), frozenAt: past }],
		['expired', { ...pkg(5, 0, 0, past), frozenAt: past }],
		['active', { ...pkg(5), frozenAt: null }]
	] as const)('%s: %o', (status, input) => {
		expect(packageStatus(input, now)).toBe(status);
	});
});
