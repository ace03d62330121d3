import { streamReply } from '$lib/server/chat/reply';
import { apiErrorResponse, invalidInput, requireApiUser } from '$lib/server/http/errors';
import { readJson } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import { chatRequest, textMessages } from './schema';
import type { RequestHandler } from './$types';

/** Streams a metered reply in the AI SDK UI message stream protocol. */
export const POST: RequestHandler = async ({ request, locals }) => {
	try {
		const user = requireApiUser(locals);
		const body = chatRequest.safeParse(await readJson(request));
		if (!body.success) throw invalidInput(body.error);
		const { database, config, models } = await runtime();
		return await streamReply(
			{ db: database.db, config: config.chat, models },
			{
				userId: user.id,
				chatId: body.data.id,
				modelId: body.data.model,
				messages: textMessages(body.data.messages),
				signal: request.signal
			}
		);
	} catch (error) {
		return apiErrorResponse(error);
	}
};
