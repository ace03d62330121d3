import { json } from '@sveltejs/kit';
import { dismissLowBalanceNotice } from '$lib/server/credits/low-balance';
import { apiErrorResponse, requireApiUser } from '$lib/server/http/errors';
import { runtime } from '$lib/server/runtime';
import type { RequestHandler } from './$types';

/** Hides the signed-in user's low-balance notice; `dismissed: false` when none was showing. */
export const POST: RequestHandler = async ({ locals }) => {
	try {
		const user = requireApiUser(locals);
		const { database } = await runtime();
		const dismissed = await dismissLowBalanceNotice(database.db, user.id);
		return json({ dismissed }, { headers: { 'cache-control': 'no-store' } });
	} catch (error) {
		return apiErrorResponse(error);
	}
};
