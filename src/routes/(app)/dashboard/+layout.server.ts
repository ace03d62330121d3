import { redirect } from '@sveltejs/kit';
import type { LayoutServerLoad } from './$types';

// hooks.server.ts already turns signed-out visitors away; this narrows the type for the pages.
export const load: LayoutServerLoad = async ({ parent, url }) => {
	const { user } = await parent();
	if (!user) redirect(303, `/login?redirectTo=${encodeURIComponent(url.pathname + url.search)}`);
	return { user };
};
