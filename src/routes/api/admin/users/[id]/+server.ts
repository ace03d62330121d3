import { json } from '@sveltejs/kit';
import { userDetail } from '$lib/server/admin/users';
import { AppError } from '$lib/server/errors';
import { apiErrorResponse, requireApiAdmin } from '$lib/server/http/errors';
import { runtime } from '$lib/server/runtime';
import type { RequestHandler } from './$types';

/** One user: figures, packages in every state, pending holds, chat count. */
export const GET: RequestHandler = async ({ locals, params }) => {
	try {
		requireApiAdmin(locals);
		const { database } = await runtime();
		const detail = await userDetail(database.db, params.id);
		if (!detail) throw new AppError(404, 'user_not_found', 'There is no such user.');
		return json(detail, { headers: { 'cache-control': 'no-store' } });
	} catch (error) {
		return apiErrorResponse(error);
	}
};
