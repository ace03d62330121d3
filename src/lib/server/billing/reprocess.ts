import { eq } from 'drizzle-orm';
import { recordAudit, type Actor } from '../admin/audit';
import { balanceOf } from '../credits';
import type { Db } from '../db/client';
import { polarWebhookDelivery, user } from '../db/schema';
import { AppError } from '../errors';
import { applyEvent, type ProcessedEvent } from './webhook';

export interface ReprocessResult {
	deliveryId: string;
	webhookId: string;
	/** The outcome now: `processed` when it changed the ledger this time. */
	outcome: ProcessedEvent['outcome'];
	error: string | null;
}

/**
 * "Process again" for a failed delivery (say, an order for a user who signed up later): runs
 * the stored payload through `applyEvent`, the very code a fresh delivery runs, so the order-id
 * idempotency holds (an order granted meanwhile by reconciliation or another delivery becomes
 * `ignored`, not a second package). The delivery row is locked first, so two admins clicking at
 * once run one after the other and the second finds it no longer failed. The new outcome and
 * the audit row commit with the ledger change, or nothing does.
 */
export async function reprocessDelivery(
	db: Db,
	input: { deliveryId: number; actor: Actor; reason: string; now?: Date }
): Promise<ReprocessResult> {
	const now = input.now ?? new Date();
	return db.transaction(async (tx) => {
		const [delivery] = await tx
			.select()
			.from(polarWebhookDelivery)
			.where(eq(polarWebhookDelivery.id, input.deliveryId))
			.for('update');
		if (!delivery) throw new AppError(404, 'delivery_not_found', 'There is no such delivery.');
		if (delivery.outcome !== 'failed') {
			throw new AppError(
				409,
				'delivery_not_failed',
				`This delivery was ${delivery.outcome}: only failed deliveries can be processed again.`
			);
		}
		const owner = delivery.userId ? await existingUser(tx, delivery.userId) : null;
		const before = owner ? (await balanceOf(tx, owner, now)).balance : null;
		const processed = await applyEvent(tx, { type: delivery.type, payload: delivery.payload }, now);
		const after = owner ? (await balanceOf(tx, owner, now)).balance : null;
		await tx
			.update(polarWebhookDelivery)
			.set({
				outcome: processed.outcome,
				error: processed.error ?? null,
				result: processed.result ?? {},
				processedAt: now
			})
			.where(eq(polarWebhookDelivery.id, delivery.id));
		await recordAudit(tx, {
			actor: input.actor,
			action: 'webhook.reprocess',
			targetUserId: delivery.userId,
			reason: input.reason,
			balanceBefore: before,
			balanceAfter: after,
			details: {
				deliveryId: String(delivery.id),
				webhookId: delivery.webhookId,
				type: delivery.type,
				orderId: delivery.orderId,
				previousError: delivery.error,
				outcome: processed.outcome,
				error: processed.error ?? null,
				result: processed.result ?? {}
			}
		});
		return {
			deliveryId: String(delivery.id),
			webhookId: delivery.webhookId,
			outcome: processed.outcome,
			error: processed.error ?? null
		};
	});
}

/** The user's id when that account exists (a failed delivery may name one that never did). */
async function existingUser(db: Db, userId: string): Promise<string | null> {
	const [found] = await db.select({ id: user.id }).from(user).where(eq(user.id, userId));
	return found?.id ?? null;
}
