import { describe, expect, it } from 'vitest';
import { formatMoney } from './format';
import { offerTerms, pricePerThousand } from './offers';

describe('offer wording', () => {
	it('formats prices and the price of 1,000 credits', () => {
		expect(formatMoney(1000, 'usd')).toBe('$10.00');
		expect(pricePerThousand({ priceAmount: 100, credits: 200, currency: 'usd' })).toBe('$5.00');
		expect(pricePerThousand({ priceAmount: 4500, credits: 10_000, currency: 'eur' })).toBe('€4.50');
	});

	it('says how long the credits last', () => {
		expect(offerTerms({ validityDays: null, recurringInterval: null })).toBe('Never expires');
		expect(offerTerms({ validityDays: 30, recurringInterval: null })).toBe('Valid 30 days');
		expect(offerTerms({ validityDays: null, recurringInterval: 'month' })).toBe(
			'Until the next month’s credits + 7 days'
		);
	});
});
