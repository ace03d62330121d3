import { error, fail, redirect } from '@sveltejs/kit';
import { and, eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { subscriptionActiveAt } from '$lib/server/credits/membership';
import type { Db } from '$lib/server/db/client';
import { billingSubscription } from '$lib/server/db/schema';
import type { CurrentPlanView } from '$lib/types';
import { startPurchase } from '$lib/server/billing/purchase';
import { AppError } from '$lib/server/errors';
import { readForm } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ locals }) => {
	const { billing, database } = await runtime();
	const catalog = await billing.catalog();
	return {
		mode: billing.mode,
		offers: catalog.items,
		staleSince: catalog.staleSince?.toISOString() ?? null,
		unavailable: catalog.unavailable,
		// UI branch stand-in for the billing session's currentPlansOf(): take theirs on merge.
		currentPlans: locals.user ? await activeSubscriptions(database.db, locals.user.id) : []
	};
};

async function activeSubscriptions(db: Db, userId: string): Promise<CurrentPlanView[]> {
	const rows = await db
		.select()
		.from(billingSubscription)
		.where(and(eq(billingSubscription.userId, userId), subscriptionActiveAt(new Date())))
		.orderBy(sql`${billingSubscription.currentPeriodEnd} desc nulls first`);
	return rows.map((row) => ({
		subscriptionId: row.id,
		productId: row.polarProductId,
		planKey: row.planKey,
		name: row.productName,
		status: row.status,
		currentPeriodEnd: row.currentPeriodEnd?.toISOString() ?? null,
		cancelAtPeriodEnd: row.cancelAtPeriodEnd,
		membership: row.membership
	}));
}

const buyForm = z.object({ productId: z.string().trim().min(1).max(200) });

export const actions: Actions = {
	buy: async ({ request, locals, url }) => {
		if (!locals.user) error(401, 'Sign in first.');
		const form = buyForm.safeParse(await readForm(request));
		if (!form.success) return fail(400, { error: 'Pick a pack to buy.' });
		const { database, billing } = await runtime();
		let destination: string;
		try {
			destination = await startPurchase(database.db, billing, {
				user: locals.user,
				productId: form.data.productId,
				origin: url.origin
			});
		} catch (cause) {
			if (cause instanceof AppError) {
				return fail(cause.status, { error: cause.message, productId: form.data.productId });
			}
			throw cause;
		}
		redirect(303, destination);
	}
};
