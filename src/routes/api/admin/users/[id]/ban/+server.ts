import { json } from '@sveltejs/kit';
import { setBanned } from '$lib/server/admin/ban';
import { apiErrorResponse, invalidInput, requireApiAdmin } from '$lib/server/http/errors';
import { readJson } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import { banBody } from './schema';
import type { RequestHandler } from './$types';

/** Bans the user (ending their sessions), audited with the reason. */
export const POST: RequestHandler = async ({ locals, params, request }) => {
	try {
		const admin = requireApiAdmin(locals);
		const body = banBody.safeParse(await readJson(request, { maxBytes: 16_384 }));
		if (!body.success) throw invalidInput(body.error);
		const { database, auth } = await runtime();
		await setBanned(auth, database.db, {
			actor: { id: admin.id, email: admin.email },
			userId: params.id,
			banned: true,
			reason: body.data.reason,
			headers: request.headers
		});
		return json({ banned: true });
	} catch (error) {
		return apiErrorResponse(error);
	}
};
