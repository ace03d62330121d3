import { randomBytes, randomUUID } from 'node:crypto';
import type { models, webhooks } from '@polar-sh/sdk/2026-10';
import { Webhook } from 'standardwebhooks';

/**
 * Polar webhook deliveries as Polar sends them (2026-10 API, snake_case), signed with the
 * `standardwebhooks` package: an implementation of the signing scheme independent of the
 * Polar SDK that verifies them in the app.
 */

/** A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes (what the app generates). */
export function newWebhookSecret(): string {
	return `whsec_${randomBytes(32).toString('base64')}`;
}

const ORGANIZATION_ID = '1dbfc517-0bbf-4301-9ba8-555ca42b9737';
const iso = (date: Date) => date.toISOString();

export interface ProductOptions {
	id?: string;
	name?: string;
	metadata?: Record<string, string | number | boolean>;
	/** Set for subscription products. */
	recurringInterval?: 'day' | 'week' | 'month' | 'year';
}

export interface OrderOptions {
	/** Our user id, as the checkout sets it: `customer.external_id`. */
	userId: string | null;
	id?: string;
	product?: ProductOptions;
	billingReason?: models.Order['billing_reason'];
	/** Net amount in cents (after discounts, before tax). */
	netAmount?: number;
	taxAmount?: number;
	/** For subscription orders. */
	subscription?: { id?: string; periodStart: Date; periodEnd: Date };
	createdAt?: Date;
}

/** A paid order in the 2026-10 Order shape, every field filled as Polar fills it. */
export function polarOrder(options: OrderOptions): models.Order {
	const createdAt = options.createdAt ?? new Date();
	const id = options.id ?? randomUUID();
	const netAmount = options.netAmount ?? 1000;
	const taxAmount = options.taxAmount ?? 0;
	const productId = options.product?.id ?? randomUUID();
	const customerId = randomUUID();
	const recurring = options.product?.recurringInterval ?? null;
	const billingReason =
		options.billingReason ?? (options.subscription ? 'subscription_cycle' : 'purchase');
	const product: models.OrderProduct = {
		metadata: options.product?.metadata ?? { credits: '500' },
		id: productId,
		created_at: '2026-10-01T09:00:00Z',
		modified_at: null,
		trial_interval: null,
		trial_interval_count: null,
		name: options.product?.name ?? '500 credits',
		description: null,
		visibility: 'public',
		recurring_interval: recurring,
		recurring_interval_count: recurring ? 1 : null,
		meter_interval: null,
		meter_interval_count: null,
		is_recurring: recurring !== null,
		is_archived: false,
		organization_id: ORGANIZATION_ID
	};
	const subscription: models.OrderSubscription | null = options.subscription
		? {
				metadata: {},
				created_at: iso(options.subscription.periodStart),
				modified_at: iso(createdAt),
				id: options.subscription.id ?? randomUUID(),
				amount: netAmount,
				currency: 'usd',
				recurring_interval: recurring ?? 'month',
				recurring_interval_count: 1,
				status: 'active',
				current_period_start: iso(options.subscription.periodStart),
				current_period_end: iso(options.subscription.periodEnd),
				current_meter_period_start: null,
				current_meter_period_end: null,
				trial_start: null,
				trial_end: null,
				cancel_at_period_end: false,
				canceled_at: null,
				started_at: iso(options.subscription.periodStart),
				ends_at: null,
				ended_at: null,
				past_due_at: null,
				pause_at_period_end: false,
				paused_at: null,
				resumes_at: null,
				customer_id: customerId,
				product_id: productId,
				discount_id: null,
				checkout_id: null,
				seats: null,
				units: null,
				customer_cancellation_reason: null,
				customer_cancellation_comment: null
			}
		: null;
	return {
		id,
		created_at: iso(createdAt),
		modified_at: iso(createdAt),
		status: 'paid',
		paid: true,
		subtotal_amount: netAmount,
		discount_amount: 0,
		net_amount: netAmount,
		tax_amount: taxAmount,
		total_amount: netAmount + taxAmount,
		applied_balance_amount: 0,
		due_amount: 0,
		refunded_amount: 0,
		refunded_tax_amount: 0,
		currency: 'usd',
		billing_reason: billingReason,
		billing_name: 'Ada Lovelace',
		billing_address: { country: 'FR', postal_code: '75001', city: 'Paris' },
		invoice_number: `INV-${id.slice(0, 8)}`,
		is_invoice_generated: false,
		receipt_number: null,
		seats: null,
		units: null,
		customer_id: customerId,
		product_id: productId,
		discount_id: null,
		subscription_id: subscription?.id ?? null,
		checkout_id: randomUUID(),
		next_payment_attempt_at: null,
		metadata: {},
		custom_field_data: {},
		platform_fee_amount: Math.round(netAmount * 0.04),
		platform_fee_currency: 'usd',
		customer: {
			id: customerId,
			created_at: '2026-10-01T09:00:00Z',
			modified_at: null,
			metadata: {},
			external_id: options.userId,
			email: 'ada@example.com',
			email_verified: true,
			type: 'individual',
			name: 'Ada Lovelace',
			billing_name: null,
			billing_address: { country: 'FR' },
			tax_id: null,
			locale: 'en',
			organization_id: ORGANIZATION_ID,
			default_payment_method_id: null,
			deleted_at: null,
			first_user_event_at: null,
			avatar_url: null
		},
		product,
		discount: null,
		subscription,
		items: [
			{
				created_at: iso(createdAt),
				modified_at: null,
				id: randomUUID(),
				label: product.name,
				amount: netAmount,
				tax_amount: taxAmount,
				proration: false,
				product_price_id: randomUUID(),
				start_timestamp: subscription?.current_period_start ?? null,
				end_timestamp: subscription?.current_period_end ?? null
			}
		],
		description: product.name,
		refundable_amount: netAmount,
		refundable_tax_amount: taxAmount
	};
}

/** The same order after refunds adding up to these amounts (net and tax, in cents). */
export function refunded(
	order: models.Order,
	amounts: { amount: number; taxAmount?: number }
): models.Order {
	const full = amounts.amount >= order.net_amount;
	return {
		...order,
		status: full ? 'refunded' : 'partially_refunded',
		modified_at: new Date().toISOString(),
		refunded_amount: amounts.amount,
		refunded_tax_amount: amounts.taxAmount ?? 0,
		refundable_amount: order.net_amount - amounts.amount,
		refundable_tax_amount: order.tax_amount - (amounts.taxAmount ?? 0)
	};
}

export function orderPaid(order: models.Order): webhooks.WebhookOrderPaidPayload {
	return envelope('order.paid', order);
}

export function orderRefunded(order: models.Order): webhooks.WebhookOrderRefundedPayload {
	return envelope('order.refunded', order);
}

/** `subscription.canceled` (or `.revoked`) of the subscription behind this order. */
export function subscriptionEnded(
	type: 'subscription.canceled' | 'subscription.revoked',
	order: models.Order
) {
	const s = order.subscription;
	if (!s) throw new Error('not a subscription order');
	const now = new Date().toISOString();
	return envelope(type, {
		...s,
		status: type === 'subscription.revoked' ? 'canceled' : 'active',
		cancel_at_period_end: type === 'subscription.canceled',
		canceled_at: now,
		ends_at: type === 'subscription.canceled' ? s.current_period_end : now,
		ended_at: type === 'subscription.revoked' ? now : null,
		customer_cancellation_reason: 'too_expensive',
		custom_field_data: {},
		customer: order.customer,
		// The full Product object; the handler reads nothing of it.
		product: { ...order.product, is_deletable: false, prices: [], benefits: [], medias: [] },
		discount: null,
		prices: [],
		meters: [],
		pending_update: null
	});
}

/** An event type the 2026-10 API version does not know. */
export function unknownEvent() {
	return envelope('customer.teleported', { id: randomUUID(), destination: 'Mars' });
}

function envelope<T extends string, D>(type: T, data: D) {
	return { type, timestamp: new Date().toISOString(), api_version: '2026-10', data };
}

export interface SignOptions {
	secret: string;
	webhookId?: string;
	/** When Polar sent it; the signature covers it. Default: now. */
	timestamp?: Date;
	/**
	 * `standard`: the key is the base64 after `whsec_` (Standard Webhooks); `raw`: the UTF-8
	 * bytes of the whole secret (how Polar signs with the secrets its dashboard shows).
	 */
	keyFormat?: 'standard' | 'raw';
}

export interface SignedDelivery {
	webhookId: string;
	body: string;
	headers: Record<string, string>;
}

/** Serialises and signs an event (or signs a body string as it is). */
export function signDelivery(event: unknown, options: SignOptions): SignedDelivery {
	const body = typeof event === 'string' ? event : JSON.stringify(event);
	const webhookId = options.webhookId ?? `msg_${randomUUID().replaceAll('-', '')}`;
	const timestamp = options.timestamp ?? new Date();
	const signer =
		options.keyFormat === 'raw'
			? new Webhook(options.secret, { format: 'raw' })
			: new Webhook(options.secret);
	return {
		webhookId,
		body,
		headers: {
			'content-type': 'application/json',
			'webhook-id': webhookId,
			'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
			'webhook-signature': signer.sign(webhookId, timestamp, body)
		}
	};
}
