import { runningReplyStream } from '$lib/server/chat/resume';
import { uiStreamResponse } from '$lib/server/chat/ui-stream';
import { apiErrorResponse, requireApiUser } from '$lib/server/http/errors';
import { runtime } from '$lib/server/runtime';
import type { RequestHandler } from './$types';

/**
 * Resumes the chat's running reply (the AI SDK's `resumeStream`): 204 when none is running,
 * otherwise the UI message stream of POST /api/chat, replayed from its start and then live.
 * `?after=<question id>`: when nothing runs, the reply stored after that question (a tab that
 * lost its connection catches up on it), else 204.
 */
export const GET: RequestHandler = async ({ params, locals, url }) => {
	try {
		const user = requireApiUser(locals);
		const { database } = await runtime();
		const stream = await runningReplyStream(database.db, {
			chatId: params.id,
			userId: user.id,
			after: url.searchParams.get('after')
		});
		if (!stream) return new Response(null, { status: 204 });
		return uiStreamResponse(stream);
	} catch (error) {
		return apiErrorResponse(error);
	}
};
