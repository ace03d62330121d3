import { fail } from '@sveltejs/kit';
import { z } from 'zod';
import { requireAdmin } from '$lib/server/auth/access';
import { reconcileOrders } from '$lib/server/billing/reconcile';
import { readForm } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ locals, url }) => {
	requireAdmin(locals, url);
	const { billing } = await runtime();
	return { billingMode: billing.mode };
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
		requireAdmin(locals, url);
		const form = reconcileForm.safeParse(await readForm(request));
		if (!form.success) return fail(400, { error: form.error.issues[0].message });
		const { database, billing } = await runtime();
		if (!billing.polar) {
			return fail(400, {
				error: 'POLAR_ACCESS_TOKEN is not set: there is no Polar account to reconcile with.'
			});
		}
		try {
			const result = await reconcileOrders(database.db, billing.polar, { days: form.data.days });
			return { reconciled: { ...result, days: form.data.days } };
		} catch (error) {
			console.error('Reconciliation failed:', error);
			return fail(502, {
				error: 'Polar did not answer; nothing was changed. Try again in a minute.'
			});
		}
	}
};
