import { json } from '@sveltejs/kit';
import { stopReply } from '$lib/server/chat/resume';
import { apiErrorResponse, requireApiUser } from '$lib/server/http/errors';
import { runtime } from '$lib/server/runtime';
import type { RequestHandler } from './$types';

/**
 * Stops the chat's running reply (the Stop button, from any tab or device). Answers
 * `{ stopping: true }` when a reply was running, `{ stopping: false }` when none was.
 */
export const POST: RequestHandler = async ({ params, locals }) => {
	try {
		const user = requireApiUser(locals);
		const { database } = await runtime();
		const stopping = await stopReply(database.db, { chatId: params.id, userId: user.id });
		return json({ stopping });
	} catch (error) {
		return apiErrorResponse(error);
	}
};
