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
		expect(creditsOfProduct(metadata)).toEqual({
			ok: true,
			credits,
			validityDays,
			bonusCredits: 0,
			dailyLimit: null,
			membership: false,
			allocationMonths: 1,
			planKey: null,
			planRank: null
		});
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

	it('reads the plan metadata that seed-products writes', () => {
		expect(
			creditsOfProduct({
				credits: '3000',
				bonus_credits: '300',
				daily_limit: '600',
				allocation_months: '12',
				plan_key: 'pro-yearly',
				plan_rank: '2',
				membership: 'false'
			})
		).toEqual({
			ok: true,
			credits: 3000,
			validityDays: null,
			bonusCredits: 300,
			dailyLimit: 600,
			membership: false,
			allocationMonths: 12,
			planKey: 'pro-yearly',
			planRank: 2
		});
	});

	it.each([[true], ['true']])('takes credits 0 only for a membership (membership: %j)', (m) => {
		expect(creditsOfProduct({ credits: 0, membership: m })).toMatchObject({
			ok: true,
			credits: 0,
			membership: true
		});
		expect(creditsOfProduct({ credits: 0, membership: 'false' }).ok).toBe(false);
	});

	it.each([
		[{ credits: 10, membership: 'yes' }, 'membership'],
		[{ credits: 10, membership: 1 }, 'membership'],
		[{ credits: 10, bonus_credits: '-1' }, 'bonus_credits'],
		[{ credits: 10, bonus_credits: 'ten' }, 'bonus_credits'],
		[{ credits: 0, membership: true, bonus_credits: 5 }, 'bonus_credits'],
		[{ credits: 10, daily_limit: 0 }, 'daily_limit'],
		[{ credits: 10, daily_limit: '1.5' }, 'daily_limit'],
		[{ credits: 10, allocation_months: 0 }, 'allocation_months'],
		[{ credits: 10, allocation_months: 1201 }, 'allocation_months'],
		[{ credits: 0, membership: true, allocation_months: 12 }, 'allocation_months'],
		[{ credits: 10, plan_key: 'Pro Plan!' }, 'plan_key'],
		[{ credits: 10, plan_key: 5 }, 'plan_key'],
		[{ credits: 10, plan_rank: 'top' }, 'plan_rank']
	])('refuses %j with a reason naming %s', (metadata, field) => {
		const result = creditsOfProduct(metadata);
		expect(result.ok).toBe(false);
		if (!result.ok) expect(result.reason).toContain(`"${field}"`);
	});
});
