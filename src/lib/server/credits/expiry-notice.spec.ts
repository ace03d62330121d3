import { describe, expect, it } from 'vitest';
import { nextExpiry } from './expiry-notice';

const now = new Date('2026-11-20T12:00:00Z');
const pkg = (remainingCredits: number, expiresAt: string | null, status = 'active') => ({
	status,
	remainingCredits,
	expiresAt
});

describe('nextExpiry', () => {
	it('adds up the live packages that expire on the soonest day within 14 days', () => {
		expect(
			nextExpiry(
				[
					pkg(50, '2026-12-01T18:00:00.000Z'),
					pkg(70, '2026-12-01T03:00:00.000Z'),
					pkg(900, '2026-12-02T00:00:00.000Z'),
					pkg(5, null)
				],
				now
			)
		).toEqual({ credits: 120, expiresAt: '2026-12-01T03:00:00.000Z' });
	});

	it('says nothing when the soonest expiry is beyond 14 days', () => {
		expect(nextExpiry([pkg(50, '2026-12-04T12:00:01.000Z'), pkg(5, null)], now)).toBeNull();
		expect(nextExpiry([pkg(50, '2026-12-04T12:00:00.000Z')], now)).toEqual({
			credits: 50,
			expiresAt: '2026-12-04T12:00:00.000Z'
		});
	});

	it('ignores ended and empty packages', () => {
		expect(
			nextExpiry(
				[
					pkg(50, '2026-11-21T00:00:00.000Z', 'revoked'),
					pkg(0, '2026-11-21T00:00:00.000Z', 'depleted'),
					pkg(9, '2026-11-19T00:00:00.000Z', 'expired')
				],
				now
			)
		).toBeNull();
	});
});
