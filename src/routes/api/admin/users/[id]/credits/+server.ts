import { json } from '@sveltejs/kit';
import { adjustUserCredits } from '$lib/server/admin/user-credits';
import { readIdempotencyKey } from '$lib/server/http/admin-input';
import { apiErrorResponse, invalidInput, requireApiAdmin } from '$lib/server/http/errors';
import { readJson } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import { adjustBody } from './schema';
import type { RequestHandler } from './$types';

/**
 * Adds, subtracts or sets a user's credits, with a reason. `Idempotency-Key` makes a retry
 * harmless: the same key and body answer the first result (`replayed: true`) and write nothing.
 */
export const POST: RequestHandler = async ({ locals, params, request }) => {
	try {
		const admin = requireApiAdmin(locals);
		const key = readIdempotencyKey(request);
		const body = adjustBody.safeParse(await readJson(request, { maxBytes: 16_384 }));
		if (!body.success) throw invalidInput(body.error);
		const { database } = await runtime();
		const result = await adjustUserCredits(database.db, {
			actor: { id: admin.id, email: admin.email },
			userId: params.id,
			...body.data,
			key
		});
		return json(result, { status: 201 });
	} catch (error) {
		return apiErrorResponse(error);
	}
};
