import { randomUUID } from 'node:crypto';
import type { models } from '@polar-sh/sdk/2026-10';
import { Webhook } from 'standardwebhooks';
import { creditPacks } from '../../../../config/credit-packs';
import { plans } from '../../../../config/plans';
import { TEST_PRODUCT_PREFIX, type CatalogItem } from './catalog';
import { metadataOf, planMetadataOf } from './seed-products';

/** One signed delivery, as Polar would POST it. */
export interface TestDelivery {
	body: string;
	headers: Headers;
}

/** Signs an event with our own webhook secret, exactly as Polar signs its deliveries. */
function signEvent(type: string, data: unknown, secret: string, now: Date): TestDelivery {
	const body = JSON.stringify({ type, timestamp: now.toISOString(), data });
	const webhookId = `msg_test_${randomUUID()}`;
	// Polar's key is the UTF-8 bytes of the whole secret; standardwebhooks wants it base64-encoded.
	const signer = new Webhook(Buffer.from(secret, 'utf8').toString('base64'));
	const headers = new Headers({
		'content-type': 'application/json',
		'webhook-id': webhookId,
		'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
		'webhook-signature': signer.sign(webhookId, now, body)
	});
	return { body, headers };
}

/** What `npm run polar:seed-products` would have put on the real product of a test id. */
function testMetadata(productId: string) {
	const pack = creditPacks.find((p) => `${TEST_PRODUCT_PREFIX}${p.key}` === productId);
	if (pack) return metadataOf(pack);
	const plan = plans.find((p) => `${TEST_PRODUCT_PREFIX}${p.key}` === productId);
	if (plan) return planMetadataOf(plan);
	throw new Error(`${productId} is not a test-mode pack or plan`);
}

/**
 * Every delivery Polar sends for a checkout of `product`, in the order this app applies them:
 * for a subscription `subscription.created` and `subscription.active`, then `order.paid`
 * (`billing_reason` `subscription_create`, or `purchase` for a one-time product).
 */
export function signedTestCheckout(input: {
	user: { id: string; email: string; name: string };
	product: CatalogItem;
	secret: string;
	now?: Date;
}): { deliveries: TestDelivery[]; orderId: string; subscriptionId: string | null } {
	const now = input.now ?? new Date();
	const order = testOrder(input.user, input.product, now);
	const deliveries: TestDelivery[] = [];
	if (order.subscription) {
		const subscription = subscriptionEventData(order, order.subscription);
		deliveries.push(signEvent('subscription.created', subscription, input.secret, now));
		deliveries.push(signEvent('subscription.active', subscription, input.secret, now));
	}
	deliveries.push(signEvent('order.paid', order, input.secret, now));
	return { deliveries, orderId: order.id, subscriptionId: order.subscription?.id ?? null };
}

/**
 * What Polar sends when a subscription moves to another product with immediate invoicing:
 * `subscription.updated` (the new product, same period) and a paid `order.paid` with
 * `billing_reason: 'subscription_update'`.
 */
export function signedTestPlanChange(input: {
	user: { id: string; email: string; name: string };
	subscription: { id: string; periodStart: Date | null; periodEnd: Date | null };
	product: CatalogItem;
	secret: string;
	now?: Date;
}): TestDelivery[] {
	const now = input.now ?? new Date();
	const order = testOrder(input.user, input.product, now);
	const start = input.subscription.periodStart ?? now;
	const sub = {
		...order.subscription!,
		id: input.subscription.id,
		created_at: start.toISOString(),
		modified_at: now.toISOString(),
		current_period_start: start.toISOString(),
		current_period_end:
			input.subscription.periodEnd?.toISOString() ?? order.subscription!.current_period_end
	};
	const changed = {
		...order,
		billing_reason: 'subscription_update' as const,
		subscription_id: sub.id,
		subscription: sub
	};
	return [
		signEvent('subscription.updated', subscriptionEventData(changed, sub), input.secret, now),
		signEvent('order.paid', changed, input.secret, now)
	];
}

/** The Subscription object of `subscription.*` events, from the order that carries it. */
function subscriptionEventData(order: models.Order, subscription: models.OrderSubscription) {
	return {
		...subscription,
		customer: order.customer,
		product: { ...order.product, prices: [], benefits: [], medias: [] },
		discount: null,
		prices: [],
		meters: [],
		pending_update: null
	};
}

/**
 * Test mode's checkout: the `order.paid` delivery Polar would send for this purchase, signed
 * with our own webhook secret, for the very same webhook handler. Only the payment is missing.
 */
export function signedTestOrder(input: {
	user: { id: string; email: string; name: string };
	product: CatalogItem;
	secret: string;
	now?: Date;
}): { body: string; headers: Headers; orderId: string } {
	const now = input.now ?? new Date();
	const order = testOrder(input.user, input.product, now);
	return { ...signEvent('order.paid', order, input.secret, now), orderId: order.id };
}

function testOrder(
	user: { id: string; email: string; name: string },
	product: CatalogItem,
	now: Date
): models.Order {
	const at = now.toISOString();
	const orderId = `order_test_${randomUUID()}`;
	const customerId = `cus_test_${user.id}`;
	const metadata = testMetadata(product.productId);
	const subscription = product.recurringInterval
		? testSubscription(customerId, product, now)
		: null;
	return {
		id: orderId,
		created_at: at,
		modified_at: null,
		status: 'paid',
		paid: true,
		subtotal_amount: product.priceAmount,
		discount_amount: 0,
		net_amount: product.priceAmount,
		tax_amount: 0,
		total_amount: product.priceAmount,
		applied_balance_amount: 0,
		due_amount: 0,
		refunded_amount: 0,
		refunded_tax_amount: 0,
		currency: product.currency,
		billing_reason: subscription ? 'subscription_create' : 'purchase',
		billing_name: user.name || null,
		billing_address: null,
		invoice_number: null,
		is_invoice_generated: false,
		receipt_number: null,
		units: null,
		customer_id: customerId,
		product_id: product.productId,
		discount_id: null,
		subscription_id: subscription?.id ?? null,
		checkout_id: null,
		metadata: { test_mode: true },
		platform_fee_amount: 0,
		platform_fee_currency: null,
		customer: {
			id: customerId,
			created_at: at,
			modified_at: null,
			metadata: {},
			external_id: user.id,
			email: user.email,
			email_verified: true,
			type: 'individual',
			name: user.name || null,
			billing_name: null,
			billing_address: null,
			tax_id: null,
			organization_id: 'org_test',
			deleted_at: null,
			first_user_event_at: null,
			avatar_url: null
		},
		product: {
			metadata,
			id: product.productId,
			created_at: at,
			modified_at: null,
			trial_interval: null,
			trial_interval_count: null,
			name: product.name,
			description: product.description,
			visibility: 'public',
			recurring_interval: product.recurringInterval,
			recurring_interval_count: product.recurringInterval ? 1 : null,
			meter_interval: null,
			meter_interval_count: null,
			is_recurring: product.recurringInterval !== null,
			is_archived: false,
			organization_id: 'org_test'
		},
		discount: null,
		subscription,
		items: [
			{
				created_at: at,
				modified_at: null,
				id: `item_test_${randomUUID()}`,
				label: product.name,
				amount: product.priceAmount,
				tax_amount: 0,
				proration: false,
				product_price_id: null,
				start_timestamp: null,
				end_timestamp: null
			}
		],
		description: product.name,
		refundable_amount: product.priceAmount,
		refundable_tax_amount: 0
	};
}

function testSubscription(
	customerId: string,
	product: CatalogItem,
	now: Date
): models.OrderSubscription {
	const end = new Date(now);
	if (product.recurringInterval === 'year') end.setUTCFullYear(end.getUTCFullYear() + 1);
	else end.setUTCMonth(end.getUTCMonth() + 1);
	return {
		metadata: {},
		created_at: now.toISOString(),
		modified_at: null,
		id: `sub_test_${randomUUID()}`,
		amount: product.priceAmount,
		currency: product.currency,
		recurring_interval: product.recurringInterval ?? 'month',
		recurring_interval_count: 1,
		status: 'active',
		current_period_start: now.toISOString(),
		current_period_end: end.toISOString(),
		current_meter_period_start: null,
		current_meter_period_end: null,
		trial_start: null,
		trial_end: null,
		cancel_at_period_end: false,
		canceled_at: null,
		started_at: now.toISOString(),
		ends_at: null,
		ended_at: null,
		pause_at_period_end: false,
		paused_at: null,
		resumes_at: null,
		customer_id: customerId,
		product_id: product.productId,
		discount_id: null,
		checkout_id: null,
		units: null,
		customer_cancellation_reason: null,
		customer_cancellation_comment: null
	};
}
