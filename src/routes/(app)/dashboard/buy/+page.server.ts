import { error, fail, redirect } from '@sveltejs/kit';
import { z } from 'zod';
import { changePlan } from '$lib/server/billing/plan-change';
import { startPurchase } from '$lib/server/billing/purchase';
import { currentPlansOf } from '$lib/server/billing/subscriptions';
import { AppError } from '$lib/server/errors';
import { readForm } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ locals }) => {
	const { billing, database } = await runtime();
	const [catalog, currentPlans] = await Promise.all([
		billing.catalog(),
		// The active subscriptions: the shop marks the current plan and offers the others.
		locals.user ? currentPlansOf(database.db, locals.user.id) : []
	]);
	return {
		mode: billing.mode,
		offers: catalog.items,
		staleSince: catalog.staleSince?.toISOString() ?? null,
		unavailable: catalog.unavailable,
		currentPlans
	};
};

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
	},
	changePlan: async ({ request, locals }) => {
		if (!locals.user) error(401, 'Sign in first.');
		const form = buyForm.safeParse(await readForm(request));
		if (!form.success) {
			return fail(400, { error: 'Pick a plan to switch to.', action: 'changePlan' as const });
		}
		const { database, billing } = await runtime();
		try {
			await changePlan(database.db, billing, {
				user: locals.user,
				productId: form.data.productId
			});
		} catch (cause) {
			if (cause instanceof AppError) {
				return fail(cause.status, {
					error: cause.message,
					productId: form.data.productId,
					action: 'changePlan' as const
				});
			}
			throw cause;
		}
		return { planChanged: form.data.productId, action: 'changePlan' as const };
	}
};
