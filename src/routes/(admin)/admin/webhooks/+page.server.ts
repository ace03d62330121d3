import { error, fail } from '@sveltejs/kit';
import { z } from 'zod';
import { recordAudit } from '$lib/server/admin/audit';
import { requireAdmin } from '$lib/server/auth/access';
import { reconcileOrders, type ReconcileResult } from '$lib/server/billing/reconcile';
import { listWebhookDeliveries } from '$lib/server/billing/deliveries';
import { reprocessDelivery } from '$lib/server/billing/reprocess';
import { AppError } from '$lib/server/errors';
import { readForm } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import type { Actions, PageServerLoad } from './$types';
import { log } from '$lib/server/log';

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
	const { billing } = await runtime();
	return {
		billingMode: billing.mode,
		outcome: parsed.data.outcome ?? null,
		deliveries: page.items.map((item) => ({
			...item,
			payload: JSON.stringify(item.payload, null, 2)
		})),
		nextCursor: page.nextCursor
	};
};

const reprocessForm = z.object({
	delivery: z
		.string()
		.regex(/^[1-9]\d{0,15}$/, 'Unknown delivery.')
		.transform(Number)
		.refine(Number.isSafeInteger, 'Unknown delivery.'),
	reason: z
		.string()
		.trim()
		.max(500, 'The reason is at most 500 characters.')
		.optional()
		.transform((value) => value || 'Processed again from /admin/webhooks')
});

const reconcileForm = z.object({
	days: z.coerce
		.number()
		.int('Days must be a whole number.')
		.min(1, 'At least 1 day.')
		.max(365, 'At most 365 days.')
});

export const actions: Actions = {
	reconcile: async ({ request, locals, url }) => {
		const admin = requireAdmin(locals, url);
		const form = reconcileForm.safeParse(await readForm(request));
		if (!form.success) return fail(400, { error: form.error.issues[0].message });
		const { database, billing } = await runtime();
		if (!billing.polar) {
			return fail(400, {
				error: 'POLAR_ACCESS_TOKEN is not set: there is no Polar account to reconcile with.'
			});
		}
		let result: ReconcileResult;
		try {
			result = await reconcileOrders(database.db, billing.polar, { days: form.data.days });
		} catch (error) {
			log.error({ err: error }, 'Reconciliation failed');
			return fail(502, {
				error: 'Polar did not answer; nothing was changed. Try again in a minute.'
			});
		}
		// Each grant is idempotent on its own; the audit row records that an admin asked and what
		// came of it.
		await recordAudit(database.db, {
			actor: { id: admin.id, email: admin.email },
			action: 'polar.reconcile',
			reason: `Reconcile Polar orders of the last ${form.data.days} days`,
			details: { days: form.data.days, ...result }
		});
		return { reconciled: { ...result, days: form.data.days } };
	},
	/** "Process again": re-runs a failed delivery's stored payload; audited as webhook.reprocess. */
	reprocess: async ({ request, locals, url }) => {
		const admin = requireAdmin(locals, url);
		const raw = await readForm(request);
		const form = reprocessForm.safeParse(raw);
		const deliveryId = typeof raw.delivery === 'string' ? raw.delivery : null;
		if (!form.success) return fail(400, { deliveryId, error: form.error.issues[0].message });
		const { database } = await runtime();
		try {
			const result = await reprocessDelivery(database.db, {
				deliveryId: form.data.delivery,
				actor: { id: admin.id, email: admin.email },
				reason: form.data.reason
			});
			return { reprocessed: result };
		} catch (caught) {
			if (caught instanceof AppError) {
				return fail(caught.status, { deliveryId, error: caught.message });
			}
			throw caught;
		}
	}
};
