import type { Db } from '../db/client';
import { grantOrder, refundOrder } from './orders';
import type { Polar } from './polar';

export interface ReconcileResult {
	/** Paid orders Polar listed in the window. */
	checked: number;
	/** Orders that had no package and got one now (their webhook never arrived or failed). */
	granted: string[];
	/** Refunded orders whose package gave back credits now (their order.refunded was missed). */
	refunded: string[];
	/** Orders that could not be granted (unknown user, product without credits), with why. */
	failed: { orderId: string; reason: string }[];
}

/**
 * Grants every paid Polar order of the last `days` that has no package yet, and applies the
 * refunds Polar reports for them. Polar disables a
 * webhook endpoint after repeated failures and then skips its pending events, so this is the
 * safety net; `grantOrder` is idempotent per order id, so running it any number of times is safe.
 */
export async function reconcileOrders(
	db: Db,
	polar: Polar,
	options: { days: number; now?: Date }
): Promise<ReconcileResult> {
	const now = options.now ?? new Date();
	const since = new Date(now.getTime() - options.days * 86_400_000);
	const result: ReconcileResult = { checked: 0, granted: [], refunded: [], failed: [] };
	const orders = polar.orders.iterList({
		status: ['paid', 'partially_refunded', 'refunded'],
		created_after: since.toISOString(),
		limit: 100
	});
	for await (const order of orders) {
		result.checked++;
		const granted = await grantOrder(db, order, now);
		if (granted.outcome === 'granted') result.granted.push(order.id);
		if (granted.outcome === 'failed') {
			result.failed.push({ orderId: order.id, reason: granted.reason });
			continue;
		}
		// A membership's order or a downgrade grants nothing by design, so nothing to refund.
		if (granted.outcome === 'ignored') continue;
		// Refunds are cumulative and idempotent per refunded amount, so replaying one is harmless.
		if (order.refunded_amount > 0 || order.status === 'refunded') {
			const refund = await refundOrder(db, order, now);
			if (refund.outcome === 'failed') {
				result.failed.push({ orderId: order.id, reason: refund.reason });
			} else if (refund.revoked > 0) {
				result.refunded.push(order.id);
			}
		}
	}
	return result;
}
