import { json } from '@sveltejs/kit';
import { balanceOf } from '$lib/server/credits';
import { apiErrorResponse, requireApiUser } from '$lib/server/http/errors';
import { runtime } from '$lib/server/runtime';
import type { RequestHandler } from './$types';

/** The signed-in user's balance, reserved and available credits, and packages. */
export const GET: RequestHandler = async ({ locals }) => {
	try {
		const user = requireApiUser(locals);
		const { database } = await runtime();
		return json(await balanceOf(database.db, user.id), {
			headers: { 'cache-control': 'no-store' }
		});
	} catch (error) {
		return apiErrorResponse(error);
	}
};
