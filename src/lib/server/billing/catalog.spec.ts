import { describe, expect, it } from 'vitest';
import { creditPacks } from '../../../../config/credit-packs';
import { plans } from '../../../../config/plans';
import { cachedCatalog, testModeCatalog, type CatalogItem } from './catalog';

describe('testModeCatalog', () => {
	it('offers every pack of config/credit-packs.ts at 200 credits per USD', () => {
		const items = testModeCatalog().filter((item) => item.kind === 'pack');
		expect(items).toHaveLength(creditPacks.length);
		for (const item of items) expect(item.priceAmount * 2).toBe(item.credits);
		// One-time packs first, smallest first; the subscription last.
		expect(items.at(-1)?.recurringInterval).toBe('month');
		expect(items[0].credits).toBe(200);
	});

	it('offers every plan of config/plans.ts after the packs, by rank, with its plan fields', () => {
		const items = testModeCatalog();
		const offered = items.filter((item) => item.kind === 'plan');
		expect(offered.map((item) => item.productId)).toEqual(
			[...plans].sort((a, b) => a.rank - b.rank).map((plan) => `test_${plan.key}`)
		);
		expect(items.slice(-plans.length)).toEqual(offered);
		const yearly = offered.find((item) => item.planKey === 'pro-yearly');
		expect(yearly).toMatchObject({
			credits: 3000,
			dailyLimit: 600,
			recurringInterval: 'year',
			allocationMonths: 12,
			membership: false,
			planRank: 2
		});
		const lifetime = offered.find((item) => item.planKey === 'lifetime');
		expect(lifetime).toMatchObject({ recurringInterval: null, allocationMonths: 1200 });
		const unlimited = offered.find((item) => item.planKey === 'unlimited-monthly');
		expect(unlimited).toMatchObject({ membership: true, credits: 0, dailyLimit: null });
	});
});

describe('cachedCatalog', () => {
	const item: CatalogItem = {
		productId: 'prod_1',
		name: '1,000 credits',
		description: null,
		credits: 1000,
		validityDays: null,
		priceAmount: 500,
		currency: 'usd',
		recurringInterval: null,
		kind: 'pack',
		bonusCredits: 0,
		dailyLimit: null,
		membership: false,
		allocationMonths: 1,
		planKey: null,
		planRank: null
	};

	function fakeClock() {
		let t = 0;
		return { now: () => t, advance: (ms: number) => (t += ms) };
	}

	it('serves one fetch for the whole TTL and shares a fetch between concurrent misses', async () => {
		const clock = fakeClock();
		let calls = 0;
		const catalog = cachedCatalog(
			async () => {
				calls++;
				return [item];
			},
			{ ttlMs: 1000, now: clock.now }
		);
		const [a, b] = await Promise.all([catalog(), catalog()]);
		expect(calls).toBe(1);
		expect(a).toEqual({ items: [item], staleSince: null, unavailable: false });
		expect(b).toEqual(a);
		clock.advance(999);
		await catalog();
		expect(calls).toBe(1);
		clock.advance(1);
		await catalog();
		expect(calls).toBe(2);
	});

	it('serves the last good copy, marked stale, while the provider fails; unavailable without one', async () => {
		const clock = fakeClock();
		let failing = true;
		let calls = 0;
		const catalog = cachedCatalog(
			async () => {
				calls++;
				if (failing) throw new Error('Polar API returned a server error: 500');
				return [item];
			},
			{ ttlMs: 1000, retryMs: 100, now: clock.now }
		);
		expect(await catalog()).toEqual({ items: [], staleSince: null, unavailable: true });
		// Within the retry pause nobody waits on a dead provider again.
		await catalog();
		expect(calls).toBe(1);
		clock.advance(100);
		failing = false;
		expect((await catalog()).items).toEqual([item]);
		clock.advance(1000);
		failing = true;
		const stale = await catalog();
		expect(stale.items).toEqual([item]);
		expect(stale.unavailable).toBe(false);
		expect(stale.staleSince?.getTime()).toBe(100);
	});
});
