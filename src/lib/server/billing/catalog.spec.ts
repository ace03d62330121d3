import { describe, expect, it } from 'vitest';
import type { models } from '@polar-sh/sdk/2026-10';
import { creditPacks } from '../../../../config/credit-packs';
import { plans } from '../../../../config/plans';
import { cachedCatalog, catalogItemOf, testModeCatalog, type CatalogItem } from './catalog';
import { metadataOf, planMetadataOf } from './seed-products';

describe('testModeCatalog', () => {
	it('offers every pack of config/credit-packs.ts at 200 credits per USD', () => {
		const packs = testModeCatalog().filter((item) => item.kind === 'pack');
		expect(packs).toHaveLength(creditPacks.length);
		for (const item of packs) expect(item.priceAmount * 2).toBe(item.credits);
		// One-time packs, smallest first.
		expect(packs.every((item) => item.recurringInterval === null)).toBe(true);
		expect(packs[0].credits).toBe(200);
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

/** A Polar product as the products API returns it, with one fixed price. */
function product(
	metadata: Record<string, string | number | boolean>,
	recurring: 'month' | 'year' | null = null
): models.Product {
	const at = '2026-11-01T00:00:00Z';
	return {
		id: 'prod_x',
		created_at: at,
		modified_at: null,
		trial_interval: null,
		trial_interval_count: null,
		name: 'X',
		description: null,
		visibility: 'public',
		recurring_interval: recurring,
		recurring_interval_count: recurring ? 1 : null,
		meter_interval: null,
		meter_interval_count: null,
		is_recurring: recurring !== null,
		is_archived: false,
		organization_id: 'org',
		metadata,
		prices: [
			{
				created_at: at,
				modified_at: null,
				id: 'price_x',
				source: 'catalog',
				amount_type: 'fixed',
				price_currency: 'usd',
				price_amount: 900,
				is_archived: false,
				product_id: 'prod_x',
				type: recurring ? 'recurring' : 'one_time',
				recurring_interval: recurring
			}
		],
		benefits: [],
		medias: [],
		attached_custom_fields: []
	} as unknown as models.Product;
}

describe('catalogItemOf', () => {
	it('reads a pack with its bonus as seed-products publishes it', () => {
		const pack = creditPacks.find((p) => p.bonusCredits > 0)!;
		expect(catalogItemOf(product(metadataOf(pack)))).toMatchObject({
			kind: 'pack',
			credits: pack.credits,
			bonusCredits: pack.bonusCredits,
			planKey: null,
			planRank: null,
			allocationMonths: 1
		});
	});

	it('reads every plan of config/plans.ts as seed-products publishes it', () => {
		for (const plan of plans) {
			const interval = plan.interval === 'once' ? null : plan.interval;
			expect(catalogItemOf(product(planMetadataOf(plan), interval))).toMatchObject({
				kind: 'plan',
				credits: plan.creditsPerMonth,
				dailyLimit: plan.dailyLimit,
				membership: plan.membership,
				allocationMonths: plan.interval === 'year' ? 12 : plan.interval === 'once' ? 1200 : 1,
				planKey: plan.key,
				planRank: plan.rank,
				recurringInterval: interval
			});
		}
	});

	it('leaves out a product whose metadata is refused', () => {
		expect(catalogItemOf(product({ credits: 10, daily_limit: 'lots' }))).toBeNull();
		expect(catalogItemOf(product({ credits: 0 }))).toBeNull();
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
