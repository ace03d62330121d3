import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { creditPacks } from '../../config/credit-packs';
import { plans } from '../../config/plans';
import { catalogItemOf, type CatalogItem } from '../../src/lib/server/billing/catalog';
import type { BillingContext } from '../../src/lib/server/billing/context';
import {
	changePlan,
	PLAN_CHANGE_LIMIT,
	planChangeBucket
} from '../../src/lib/server/billing/plan-change';
import { hit } from '../../src/lib/server/security/rate-limit';
import { startPurchase } from '../../src/lib/server/billing/purchase';
import { metadataOf, planMetadataOf } from '../../src/lib/server/billing/seed-products';
import { currentPlansOf } from '../../src/lib/server/billing/subscriptions';
import type { Db } from '../../src/lib/server/db/client';
import { creditPackage, polarWebhookDelivery } from '../../src/lib/server/db/schema';
import { AppError } from '../../src/lib/server/errors';
import { databaseKinds, useTestDatabase } from '../helpers/databases';
import { expectNoDrift } from '../helpers/ledger';
import { newWebhookSecret } from '../helpers/polar-events';
import { createUser } from '../helpers/users';
import type { models } from '@polar-sh/sdk/2026-10';

/**
 * The test-mode catalog with the plans of config/plans.ts under `test_<key>` ids, read through
 * catalogItemOf from the metadata seed-products publishes (what Polar mode would show).
 */
function testCatalog(): CatalogItem[] {
	const offers = [
		...creditPacks.map((pack) => ({
			key: pack.key,
			name: pack.name,
			price: pack.priceAmount,
			interval: null,
			metadata: metadataOf(pack)
		})),
		...plans.map((plan) => ({
			key: plan.key,
			name: plan.name,
			price: plan.priceAmount,
			interval: plan.interval === 'once' ? null : plan.interval,
			metadata: planMetadataOf(plan)
		}))
	];
	return offers.map((offer) =>
		catalogItemOf({
			id: `test_${offer.key}`,
			name: offer.name,
			description: null,
			is_archived: false,
			recurring_interval: offer.interval,
			metadata: offer.metadata,
			prices: [
				{
					amount_type: 'fixed',
					is_archived: false,
					price_amount: offer.price,
					price_currency: 'usd'
				}
			]
		} as unknown as models.Product)!
	);
}

const secret = newWebhookSecret();
const billing: BillingContext = {
	mode: 'test',
	webhookSecret: secret,
	polar: null,
	catalog: async () => ({ items: testCatalog(), staleSince: null, unavailable: false })
};

const packagesOf = (db: Db, userId: string) =>
	db
		.select()
		.from(creditPackage)
		.where(eq(creditPackage.userId, userId))
		.orderBy(creditPackage.createdAt);

async function refusal(promise: Promise<unknown>) {
	try {
		await promise;
	} catch (error) {
		if (error instanceof AppError) return { status: error.status, code: error.code };
		throw error;
	}
	throw new Error('expected a refusal');
}

describe.each(databaseKinds)('plan checkout and plan changes in test mode on %s', (kind) => {
	const database = useTestDatabase(kind);
	const db = () => database().db;

	it('subscribes through signed webhooks, then upgrades and downgrades with changePlan', async () => {
		const userId = await createUser(db());
		const buyer = { id: userId, email: `${userId}@example.com`, name: 'Ada' };
		await startPurchase(db(), billing, {
			user: buyer,
			productId: 'test_pro-monthly',
			origin: 'http://localhost'
		});
		// What Polar sends for a new subscription, in order.
		const types = await db()
			.select({ type: polarWebhookDelivery.type, outcome: polarWebhookDelivery.outcome })
			.from(polarWebhookDelivery)
			.where(eq(polarWebhookDelivery.userId, userId))
			.orderBy(polarWebhookDelivery.id);
		expect(types).toEqual([
			{ type: 'subscription.created', outcome: 'processed' },
			{ type: 'subscription.active', outcome: 'processed' },
			{ type: 'order.paid', outcome: 'processed' }
		]);
		const [current] = await currentPlansOf(db(), userId);
		expect(current).toMatchObject({
			productId: 'test_pro-monthly',
			planKey: 'pro-monthly',
			status: 'active',
			membership: false,
			cancelAtPeriodEnd: false
		});
		expect((await packagesOf(db(), userId)).map((p) => [p.initialCredits, p.dailyLimit])).toEqual([
			[2000, 400]
		]);

		// Upgrade to the yearly plan (rank 2): a new yearly period, allocated monthly from month 1.
		await changePlan(db(), billing, { user: buyer, productId: 'test_pro-yearly' });
		const after = await currentPlansOf(db(), userId);
		expect(after).toHaveLength(1);
		expect(after[0]).toMatchObject({
			subscriptionId: current.subscriptionId,
			planKey: 'pro-yearly'
		});
		const packages = await packagesOf(db(), userId);
		expect(packages.map((p) => [p.initialCredits, p.dailyLimit, p.allocationMonth])).toEqual([
			[2000, 400, null],
			[3000, 600, 1]
		]);

		// Down to the membership (rank 3 is higher: an upgrade, but it has no credits to add).
		await changePlan(db(), billing, { user: buyer, productId: 'test_unlimited-monthly' });
		expect(await packagesOf(db(), userId)).toHaveLength(2);
		expect((await currentPlansOf(db(), userId))[0]).toMatchObject({ membership: true });

		// Back to Pro Monthly (rank 1): a downgrade, nothing now.
		await changePlan(db(), billing, { user: buyer, productId: 'test_pro-monthly' });
		expect(await packagesOf(db(), userId)).toHaveLength(2);
		await expectNoDrift(db(), userId);
	});

	it('refuses bad plan changes with a clear 4xx and writes nothing', async () => {
		const userId = await createUser(db());
		const user = { id: userId, email: `${userId}@example.com`, name: 'Bob' };
		const change = (productId: string) => changePlan(db(), billing, { user, productId });
		expect(await refusal(change('test_nope'))).toEqual({ status: 400, code: 'unknown_product' });
		expect(await refusal(change('test_pack-1000'))).toEqual({ status: 400, code: 'not_a_plan' });
		expect(await refusal(change('test_lifetime'))).toEqual({ status: 400, code: 'not_a_plan' });
		expect(await refusal(change('test_pro-yearly'))).toEqual({
			status: 409,
			code: 'no_subscription'
		});
		await startPurchase(db(), billing, {
			user,
			productId: 'test_pro-monthly',
			origin: 'http://localhost'
		});
		const before = await db().select().from(polarWebhookDelivery);
		expect(await refusal(change('test_pro-monthly'))).toEqual({ status: 409, code: 'same_plan' });
		expect(await db().select().from(polarWebhookDelivery)).toHaveLength(before.length);
		// Five changes made this minute: a sixth is refused before it reaches Polar or the ledger.
		for (let i = 0; i < PLAN_CHANGE_LIMIT.max; i++) {
			await hit(db(), planChangeBucket(userId), PLAN_CHANGE_LIMIT);
		}
		expect(await refusal(change('test_pro-yearly'))).toEqual({
			status: 429,
			code: 'rate_limited'
		});
		expect(await db().select().from(polarWebhookDelivery)).toHaveLength(before.length);
		expect(
			await refusal(changePlan(db(), { ...billing, mode: 'off' }, { user, productId: 'x' }))
		).toEqual({ status: 409, code: 'payments_off' });
	});

	it('sells the lifetime plan as one order allocated over 1,200 months', async () => {
		const userId = await createUser(db());
		const user = { id: userId, email: `${userId}@example.com`, name: 'Cy' };
		await startPurchase(db(), billing, { user, productId: 'test_lifetime', origin: 'http://x' });
		const [pkg] = await packagesOf(db(), userId);
		expect(pkg).toMatchObject({
			source: 'purchase',
			initialCredits: 5000,
			allocationMonth: 1,
			polarSubscriptionId: null
		});
		expect(await currentPlansOf(db(), userId)).toEqual([]);
	});
});
