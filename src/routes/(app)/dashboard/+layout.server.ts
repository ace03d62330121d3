import { redirect } from '@sveltejs/kit';
import { loginPath } from '$lib/server/auth/access';
import { requestCreditsOverview } from '$lib/server/http/credits-overview';
import { runtime } from '$lib/server/runtime';
import type { CreditSummary } from '$lib/types';
import type { LayoutServerLoad } from './$types';

// hooks.server.ts already turns signed-out visitors away; this narrows the type for the pages.
export const load: LayoutServerLoad = async ({ parent, url, depends, locals }) => {
	const { user } = await parent();
	if (!user) redirect(303, loginPath(url));
	// Pages call invalidate('app:credits') after anything that moves credits (e.g. a reply).
	depends('app:credits');
	const { database, config } = await runtime();
	const { balance, reserved, available } = await requestCreditsOverview(
		locals,
		database.db,
		user.id
	);
	const credits: CreditSummary = { balance, reserved, available };
	return { user, credits, emailVerification: config.emailVerification };
};
