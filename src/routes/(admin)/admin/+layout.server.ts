import { requireAdmin } from '$lib/server/auth/access';
import type { LayoutServerLoad } from './$types';

// hooks.server.ts refuses non-admins by path; every admin load and action checks again, since a
// page's load does not wait for this layout's (and a client can skip it).
export const load: LayoutServerLoad = async ({ parent, locals, url }) => {
	requireAdmin(locals, url);
	const { user } = await parent();
	return { user: user! };
};
