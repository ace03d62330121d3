import { fail } from '@sveltejs/kit';
import { z } from 'zod';
import { recordAudit } from '$lib/server/admin/audit';
import { adminOverview, runLedgerCheck } from '$lib/server/admin/overview';
import { requireAdmin } from '$lib/server/auth/access';
import { reconcileOrders, type ReconcileResult } from '$lib/server/billing/reconcile';
import { readForm } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ locals, url }) => {
	requireAdmin(locals, url);
	const { billing, database } = await runtime();
	return { billingMode: billing.mode, overview: await adminOverview(database.db) };
};

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
			console.error('Reconciliation failed:', error);
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
	verify: async ({ locals, url }) => {
		const admin = requireAdmin(locals, url);
		const { database } = await runtime();
		const check = await runLedgerCheck(database.db, { id: admin.id, email: admin.email });
		return { verified: { driftCount: check.driftCount, durationMs: check.durationMs } };
	}
};
