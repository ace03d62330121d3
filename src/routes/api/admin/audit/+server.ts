import { json } from '@sveltejs/kit';
import { auditQuery, searchAudit } from '$lib/server/admin/audit-query';
import { apiErrorResponse, invalidInput, requireApiAdmin } from '$lib/server/http/errors';
import { runtime } from '$lib/server/runtime';
import type { RequestHandler } from './$types';

/**
 * Every admin action, newest first: `?admin=<id or email>&user=<id or email>&limit=1..100
 * &cursor=<nextCursor>`. A bad parameter is a 400 naming it.
 */
export const GET: RequestHandler = async ({ locals, url }) => {
	try {
		requireApiAdmin(locals);
		const query = auditQuery.safeParse(Object.fromEntries(url.searchParams));
		if (!query.success) throw invalidInput(query.error);
		const { database } = await runtime();
		return json(await searchAudit(database.db, query.data), {
			headers: { 'cache-control': 'no-store' }
		});
	} catch (error) {
		return apiErrorResponse(error);
	}
};
