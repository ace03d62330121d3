import { json } from '@sveltejs/kit';
import { revokeUserPackage } from '$lib/server/admin/user-credits';
import { readIdempotencyKey } from '$lib/server/http/admin-input';
import { apiErrorResponse, invalidInput, requireApiAdmin } from '$lib/server/http/errors';
import { readJson } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import { revokeBody } from './schema';
import type { RequestHandler } from './$types';

/** Takes the remainder of one of the user's packages (404 when it is not theirs). */
export const POST: RequestHandler = async ({ locals, params, request }) => {
	try {
		const admin = requireApiAdmin(locals);
		const key = readIdempotencyKey(request);
		const body = revokeBody.safeParse(await readJson(request, { maxBytes: 16_384 }));
		if (!body.success) throw invalidInput(body.error);
		const { database } = await runtime();
		const result = await revokeUserPackage(database.db, {
			actor: { id: admin.id, email: admin.email },
			userId: params.id,
			packageId: params.packageId,
			reason: body.data.reason,
			key
		});
		return json(result, { status: 201 });
	} catch (error) {
		return apiErrorResponse(error);
	}
};
