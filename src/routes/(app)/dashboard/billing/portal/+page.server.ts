import { error, redirect } from '@sveltejs/kit';
import { openBillingPortal } from '$lib/server/billing/purchase';
import { AppError } from '$lib/server/errors';
import { runtime } from '$lib/server/runtime';
import type { PageServerLoad } from './$types';

/** "Manage billing": straight on to Polar's customer portal, or a page saying why not. */
export const load: PageServerLoad = async ({ parent, url }) => {
	const { user } = await parent();
	const { billing } = await runtime();
	let outcome;
	try {
		outcome = await openBillingPortal(billing, { userId: user.id, origin: url.origin });
	} catch (cause) {
		if (cause instanceof AppError) error(cause.status, cause.message);
		throw cause;
	}
	if (outcome.kind === 'redirect') redirect(303, outcome.url);
	return { outcome };
};
