import { requireAdmin } from '$lib/server/auth/access';
import { searchUsers } from '$lib/server/admin/users';
import { runtime } from '$lib/server/runtime';
import { usersPageQuery } from './schema';
import type { PageServerLoad } from './$types';

const PAGE_SIZE = 50;

export const load: PageServerLoad = async ({ locals, url }) => {
	requireAdmin(locals, url);
	const parsed = usersPageQuery.safeParse(Object.fromEntries(url.searchParams));
	const query = parsed.success ? parsed.data : {};
	const { database } = await runtime();
	const page = await searchUsers(database.db, { ...query, limit: PAGE_SIZE });
	return {
		q: query.q ?? '',
		paged: Boolean(query.cursor),
		// A bad query (too long) shows everyone and says why, instead of an error page.
		queryError: parsed.success ? null : `Search: ${parsed.error.issues[0].message}.`,
		users: page.items,
		nextCursor: page.nextCursor
	};
};
