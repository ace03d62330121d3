import { describe, expect, it } from 'vitest';
import { creditsOfProduct } from './products';

describe('creditsOfProduct', () => {
	it.each([
		[{ credits: '500' }, 500, null],
		[{ credits: 500 }, 500, null],
		[{ credits: ' 1000 ', validity_period: '30' }, 1000, 30],
		[{ credits: 1, validity_period: 0 }, 1, 0],
		[{ credits: '250', validity_period: '' }, 250, null],
		[{ credits: '1000000000', other: true }, 1_000_000_000, null]
	])('reads %j', (metadata, credits, validityDays) => {
		expect(creditsOfProduct(metadata)).toEqual({ ok: true, credits, validityDays });
	});

	it.each([
		[undefined],
		[null],
		[{}],
		[{ credits: 0 }],
		[{ credits: '0' }],
		[{ credits: -5 }],
		[{ credits: 1.5 }],
		[{ credits: '1.5' }],
		[{ credits: '1e3' }],
		[{ credits: 'lots' }],
		[{ credits: true }],
		[{ credits: 1_000_000_001 }]
	])('refuses credits in %j with a reason', (metadata) => {
		const result = creditsOfProduct(metadata);
		expect(result.ok).toBe(false);
		if (!result.ok) expect(result.reason).toContain('"credits"');
	});

	it.each([
		[{ validity_period: '30 days' }],
		[{ validity_period: -1 }],
		[{ validity_period: 2.5 }]
	])('refuses validity_period in %j with a reason', (extra) => {
		const result = creditsOfProduct({ credits: 10, ...extra });
		expect(result.ok).toBe(false);
		if (!result.ok) expect(result.reason).toContain('validity_period');
	});
});
