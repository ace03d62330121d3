import { json } from '@sveltejs/kit';
import { searchUsers } from '$lib/server/admin/users';
import { apiErrorResponse, invalidInput, requireApiAdmin } from '$lib/server/http/errors';
import { runtime } from '$lib/server/runtime';
import { usersQuery } from './schema';
import type { RequestHandler } from './$types';

/** Users by part of their email or name, with their credit figures, a page at a time. */
export const GET: RequestHandler = async ({ locals, url }) => {
	try {
		requireApiAdmin(locals);
		const query = usersQuery.safeParse(Object.fromEntries(url.searchParams));
		if (!query.success) throw invalidInput(query.error);
		const { database } = await runtime();
		const page = await searchUsers(database.db, query.data);
		return json(page, { headers: { 'cache-control': 'no-store' } });
	} catch (error) {
		return apiErrorResponse(error);
	}
};
