import { mustVerifyEmail } from '$lib/server/auth/access';
import { streamReply } from '$lib/server/chat/reply';
import { AppError } from '$lib/server/errors';
import { apiErrorResponse, invalidInput, requireApiUser } from '$lib/server/http/errors';
import { readJson } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import { chatRequest, maxBodyBytes, questionOf } from './schema';
import type { RequestHandler } from './$types';

/**
 * Streams a metered reply in the AI SDK UI message stream protocol. The checks run cheapest
 * first: session, body size and schema, then (in streamReply) the rate limit, the chat's owner,
 * tokenizing, and only then the credit hold.
 */
export const POST: RequestHandler = async ({ request, locals }) => {
	try {
		const user = requireApiUser(locals);
		const { database, config, models } = await runtime();
		if (mustVerifyEmail(user, config.emailVerification)) {
			throw new AppError(
				403,
				'email_unverified',
				'Confirm your email address before chatting: open the link we sent you, or get a new one at /verify-email.'
			);
		}
		const raw = await readJson(request, {
			maxBytes: maxBodyBytes(config.chat.maxInputChars),
			tooLarge: () =>
				new AppError(
					413,
					'message_too_long',
					`Messages are limited to ${config.chat.maxInputChars.toLocaleString('en')} characters.`
				)
		});
		const body = chatRequest.safeParse(raw);
		if (!body.success) throw invalidInput(body.error);
		return await streamReply(
			{ db: database.db, config: config.chat, models },
			{
				userId: user.id,
				chatId: body.data.id,
				modelId: body.data.model,
				question: questionOf(body.data)
			}
		);
	} catch (error) {
		return apiErrorResponse(error);
	}
};
