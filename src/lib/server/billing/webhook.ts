import { webhooks } from '@polar-sh/sdk/2026-10';
import { eq } from 'drizzle-orm';
import { checkLowBalance } from '../credits/low-balance';
import type { Db } from '../db/client';
import { log } from '../log';
import { recordWebhookOutcome, type WebhookOutcome } from '../metrics/record';
import { hasUnstorableText } from '../text';
import { polarWebhookDelivery, type deliveryOutcomes } from '../db/schema';
import { grantOrder, refundOrder, type PolarOrder } from './orders';
import { applySubscriptionEvent } from './subscriptions';

/** One HTTP delivery as it arrived: the raw body (the signature covers its exact bytes). */
export interface WebhookRequest {
	body: string;
	headers: Headers | Record<string, string>;
}

/** What to answer; the route sends it as JSON, 1:1. */
export interface WebhookAnswer {
	status: number;
	body:
		| {
				received: true;
				outcome: DeliveryOutcome;
				/** True when this `webhook-id` was stored before: nothing was done again. */
				duplicate: boolean;
		  }
		| { error: { code: string; message: string } };
}

type DeliveryOutcome = Exclude<(typeof deliveryOutcomes)[number], 'received'>;

export interface ProcessedEvent {
	outcome: DeliveryOutcome;
	error?: string;
	result?: Record<string, unknown>;
}

/**
 * Handles one Polar webhook delivery: verifies its Standard Webhooks signature on the raw body
 * (5 minutes of tolerance on `webhook-timestamp`, against the real clock), stores it once per
 * `webhook-id` and applies it to the ledger in the same database transaction.
 *
 * - bad, missing or stale signature: 403, nothing written;
 * - signed but not a JSON event, or holding NUL characters or lone surrogates: 400, nothing written;
 * - a `webhook-id` stored before (also while a concurrent copy is being processed): 200,
 *   nothing new;
 * - anything else: stored and 200, whatever happens to it (`processed`, `ignored`, `failed` with
 *   the reason): Polar retrying an event we cannot apply would not change the outcome. Only an
 *   unexpected error (the database is down) rolls everything back and becomes a 500, which
 *   Polar retries.
 *
 * `now` is the ledger's clock (package creation and expiry); the test mode's simulated checkout
 * signs its own deliveries and passes them through here too.
 */
export async function handlePolarWebhook(
	db: Db,
	request: WebhookRequest,
	secret: string,
	now: Date = new Date()
): Promise<WebhookAnswer> {
	try {
		const answer = await handleDelivery(db, request, secret, now);
		recordWebhookOutcome(outcomeOf(answer));
		return answer;
	} catch (error) {
		recordWebhookOutcome('error');
		throw error;
	}
}

/** The delivery's outcome as the webhook counter names it. */
function outcomeOf(answer: WebhookAnswer): WebhookOutcome {
	if ('error' in answer.body) {
		return answer.body.error.code === 'invalid_signature' ? 'invalid_signature' : 'invalid_payload';
	}
	return answer.body.duplicate ? 'duplicate' : answer.body.outcome;
}

async function handleDelivery(
	db: Db,
	request: WebhookRequest,
	secret: string,
	now: Date
): Promise<WebhookAnswer> {
	const headers = signatureHeaders(request.headers);
	let event: { type: string; payload: unknown };
	try {
		const payload = await webhooks.validateEvent(request.body, headers, secret);
		event = { type: payload.type, payload };
	} catch (error) {
		if (error instanceof webhooks.PolarWebhookVerificationError) {
			return refuse(403, 'invalid_signature', 'The webhook signature is missing or invalid.');
		}
		if (error instanceof webhooks.PolarWebhookUnknownTypeError && error.eventType !== null) {
			// Signed and parsed, just a type this API version does not know: stored and ignored.
			event = { type: error.eventType, payload: JSON.parse(request.body) };
		} else if (error instanceof webhooks.PolarWebhookError) {
			return refuse(400, 'invalid_payload', 'The webhook body is not a JSON event with a type.');
		} else {
			throw error;
		}
	}
	if (hasUnstorableText(event.payload)) {
		// jsonb cannot hold it: storing would fail as a 500 that Polar retries for half an hour.
		return refuse(
			400,
			'invalid_payload',
			'The webhook body holds text that cannot be stored (NUL or a lone surrogate).'
		);
	}
	const answer = await storeAndProcess(db, headers['webhook-id'], event, now);
	// After the commit: a refund takes credits back and may cross the buyer's low-balance alert.
	const refundOf = event.type === 'order.refunded' ? peek(event).userId : null;
	if (refundOf) {
		await checkLowBalance(db, refundOf, now).catch((err) => log.error({ err }, '[alert]'));
	}
	return answer;
}

async function storeAndProcess(
	db: Db,
	webhookId: string,
	event: { type: string; payload: unknown },
	now: Date
): Promise<WebhookAnswer> {
	const started = Date.now();
	const { userId, orderId } = peek(event);
	return db.transaction(async (tx) => {
		// Claims the webhook-id. A concurrent copy waits here until the first commits, then
		// inserts nothing; if the first rolls back, the copy takes over.
		const [claimed] = await tx
			.insert(polarWebhookDelivery)
			.values({
				webhookId,
				type: event.type,
				payload: event.payload,
				outcome: 'received',
				userId,
				orderId,
				receivedAt: now
			})
			.onConflictDoNothing({ target: polarWebhookDelivery.webhookId })
			.returning({ id: polarWebhookDelivery.id });
		if (!claimed) {
			const [stored] = await tx
				.select({ outcome: polarWebhookDelivery.outcome })
				.from(polarWebhookDelivery)
				.where(eq(polarWebhookDelivery.webhookId, webhookId));
			const outcome = stored.outcome === 'received' ? 'processed' : stored.outcome;
			return { status: 200, body: { received: true, outcome, duplicate: true } };
		}
		const processed = await applyEvent(tx, event, now);
		await tx
			.update(polarWebhookDelivery)
			.set({
				outcome: processed.outcome,
				error: processed.error ?? null,
				result: processed.result ?? {},
				processedAt: new Date(now.getTime() + (Date.now() - started))
			})
			.where(eq(polarWebhookDelivery.id, claimed.id));
		if (processed.outcome === 'failed') {
			log.warn(`Polar webhook ${webhookId} (${event.type}) failed: ${processed.error}`);
		}
		return { status: 200, body: { received: true, outcome: processed.outcome, duplicate: false } };
	});
}

/**
 * What a delivery does to the ledger, by event type. Shared by a fresh delivery and an admin's
 * "Process again" (reprocess.ts), so both take the same path, order-id idempotency included.
 */
export async function applyEvent(
	db: Db,
	event: { type: string; payload: unknown },
	now: Date
): Promise<ProcessedEvent> {
	const data = (event.payload as { data?: unknown }).data as PolarOrder;
	switch (event.type) {
		case 'order.paid': {
			const granted = await grantOrder(db, data, now);
			switch (granted.outcome) {
				case 'granted':
					return {
						outcome: 'processed',
						result: {
							packageId: granted.packageId,
							credits: granted.credits,
							expiresAt: granted.expiresAt?.toISOString() ?? null
						}
					};
				case 'duplicate':
					return {
						outcome: 'ignored',
						error: 'This order already has its credit package.',
						result: { packageId: granted.packageId }
					};
				case 'ignored':
					return { outcome: 'ignored', error: granted.reason };
				case 'failed':
					return { outcome: 'failed', error: granted.reason };
			}
			break;
		}
		case 'order.refunded': {
			const refunded = await refundOrder(db, data, now);
			if (refunded.outcome === 'failed') return { outcome: 'failed', error: refunded.reason };
			const { packageId, revoked, totalRevoked, shortfall } = refunded;
			return { outcome: 'processed', result: { packageId, revoked, totalRevoked, shortfall } };
		}
		case 'subscription.created':
		case 'subscription.updated':
		case 'subscription.active':
		case 'subscription.canceled':
		case 'subscription.uncanceled':
		case 'subscription.revoked': {
			// Credits come with each paid order; these events say whether the subscription's plan
			// pool may be spent (and a membership used): newest event wins.
			const applied = await applySubscriptionEvent(db, data, now);
			if (applied.outcome === 'processed') {
				const { subscriptionId, status, frozen, thawed } = applied;
				return { outcome: 'processed', result: { subscriptionId, status, frozen, thawed } };
			}
			return { outcome: applied.outcome, error: applied.reason };
		}
	}
	return { outcome: 'ignored', error: `Event type ${event.type} is not handled.` };
}

/** The buyer and the order of an event, for the admins' list; absent fields are null. */
function peek(event: { type: string; payload: unknown }) {
	const data = (event.payload as { data?: Record<string, unknown> } | null)?.data;
	const customer = data?.customer as { external_id?: unknown } | undefined;
	const userId = typeof customer?.external_id === 'string' ? customer.external_id : null;
	const orderId = event.type.startsWith('order.') && typeof data?.id === 'string' ? data.id : null;
	return { userId, orderId };
}

function signatureHeaders(headers: Headers | Record<string, string>) {
	const get = (name: string) =>
		headers instanceof Headers
			? (headers.get(name) ?? '')
			: (Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1] ?? '');
	return {
		'webhook-id': get('webhook-id'),
		'webhook-timestamp': get('webhook-timestamp'),
		'webhook-signature': get('webhook-signature')
	};
}

function refuse(status: number, code: string, message: string): WebhookAnswer {
	return { status, body: { error: { code, message } } };
}
