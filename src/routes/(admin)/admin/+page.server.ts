import { adminOverview, runLedgerCheck } from '$lib/server/admin/overview';
import { requireAdmin } from '$lib/server/auth/access';
import { runtime } from '$lib/server/runtime';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ locals, url }) => {
	requireAdmin(locals, url);
	const { billing, database } = await runtime();
	return { billingMode: billing.mode, overview: await adminOverview(database.db) };
};

export const actions: Actions = {
	verify: async ({ locals, url }) => {
		const admin = requireAdmin(locals, url);
		const { database } = await runtime();
		const check = await runLedgerCheck(database.db, { id: admin.id, email: admin.email });
		return { verified: { driftCount: check.driftCount, durationMs: check.durationMs } };
	}
};
