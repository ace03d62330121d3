import { error } from '@sveltejs/kit';
import { z } from 'zod';
import { requireAdmin } from '$lib/server/auth/access';
import { listWebhookDeliveries } from '$lib/server/billing/deliveries';
import { runtime } from '$lib/server/runtime';
import type { PageServerLoad } from './$types';

const query = z.object({
	outcome: z.enum(['processed', 'ignored', 'failed']).optional(),
	cursor: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional()
});

/** Every Polar webhook delivery, newest first; `?outcome=failed` shows the ones to act on. */
export const load: PageServerLoad = async ({ locals, url }) => {
	requireAdmin(locals, url);
	const parsed = query.safeParse(Object.fromEntries(url.searchParams));
	if (!parsed.success) error(400, 'Unknown filter: use outcome=processed|ignored|failed.');
	const { database } = await runtime();
	const page = await listWebhookDeliveries(database.db, { limit: 50, ...parsed.data });
	return {
		outcome: parsed.data.outcome ?? null,
		deliveries: page.items.map((item) => ({
			...item,
			payload: JSON.stringify(item.payload, null, 2)
		})),
		nextCursor: page.nextCursor
	};
};
