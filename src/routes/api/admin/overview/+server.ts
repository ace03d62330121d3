import { json } from '@sveltejs/kit';
import { adminOverview } from '$lib/server/admin/overview';
import { apiErrorResponse, requireApiAdmin } from '$lib/server/http/errors';
import { runtime } from '$lib/server/runtime';
import type { RequestHandler } from './$types';

/** The admin overview as JSON: the same numbers as the /admin page. */
export const GET: RequestHandler = async ({ locals }) => {
	try {
		requireApiAdmin(locals);
		const { database } = await runtime();
		return json(await adminOverview(database.db), { headers: { 'cache-control': 'no-store' } });
	} catch (error) {
		return apiErrorResponse(error);
	}
};
