import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client';
import { polarWebhookDelivery, type deliveryOutcomes } from '../db/schema';

export type DeliveryOutcome = (typeof deliveryOutcomes)[number];

export interface WebhookDeliveryView {
	id: string;
	webhookId: string;
	type: string;
	outcome: DeliveryOutcome;
	/** Why it failed or was ignored. */
	error: string | null;
	/** What it did: package id, credits granted or revoked. */
	result: Record<string, unknown>;
	userId: string | null;
	orderId: string | null;
	payload: unknown;
	receivedAt: string;
	processedAt: string | null;
}

export interface WebhookDeliveryPage {
	items: WebhookDeliveryView[];
	/** Pass back as `cursor` for the next (older) page; null on the last page. */
	nextCursor: string | null;
}

/**
 * Every stored Polar webhook delivery, newest first, for the admins; keyset-paginated on the row
 * id like the ledger, optionally only one outcome (`failed` is the one to watch).
 */
export async function listWebhookDeliveries(
	db: Db,
	options: { limit: number; cursor?: number | null; outcome?: DeliveryOutcome }
): Promise<WebhookDeliveryPage> {
	const conditions: SQL[] = [];
	if (options.cursor) conditions.push(lt(polarWebhookDelivery.id, options.cursor));
	if (options.outcome) conditions.push(eq(polarWebhookDelivery.outcome, options.outcome));
	const rows = await db
		.select()
		.from(polarWebhookDelivery)
		.where(and(...conditions))
		.orderBy(desc(polarWebhookDelivery.id))
		.limit(options.limit + 1);
	const page = rows.slice(0, options.limit);
	return {
		items: page.map((row) => ({
			id: String(row.id),
			webhookId: row.webhookId,
			type: row.type,
			outcome: row.outcome,
			error: row.error,
			result: row.result,
			userId: row.userId,
			orderId: row.orderId,
			payload: row.payload,
			receivedAt: row.receivedAt.toISOString(),
			processedAt: row.processedAt?.toISOString() ?? null
		})),
		nextCursor: rows.length > options.limit ? String(page[page.length - 1].id) : null
	};
}
