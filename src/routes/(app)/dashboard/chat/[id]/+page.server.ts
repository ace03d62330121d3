import { error, fail, redirect } from '@sveltejs/kit';
import { z } from 'zod';
import { chatMessages, deleteChat, findChat, renameChat } from '$lib/server/chat/history';
import { replyEstimate } from '$lib/server/chat/reply';
import { replyVersions } from '$lib/server/chat/versions';
import { readForm } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import type { ReplyReceipt, StoredChatMessage } from '$lib/types';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ params, parent }) => {
	const { user } = await parent();
	const { database, config } = await runtime();
	const chat = await findChat(database.db, params.id, user.id);
	// Another user's chat reads exactly like a missing one.
	if (!chat) error(404, 'This chat does not exist.');
	const messages: StoredChatMessage[] = (await chatMessages(database.db, chat.id)).map((m) => ({
		id: m.id,
		role: m.role,
		text: (m.parts as { type: string; text?: string }[])
			.filter((p) => p.type === 'text')
			.map((p) => p.text ?? '')
			.join(''),
		receipt: (m.metadata.receipt as ReplyReceipt | undefined) ?? null,
		createdAt: m.createdAt.toISOString(),
		...(m.role === 'assistant' && replyVersions(m.metadata).length
			? { versions: replyVersions(m.metadata) }
			: {})
	}));
	// The composer's "up to N credits" hint starts from what the server would reserve. Streamed
	// (not awaited): the page and its navigation never wait for the history to be tokenized.
	const estimate = replyEstimate({ db: database.db, config: config.chat }, chat.id).catch(
		() => undefined
	);
	return { chat: { id: chat.id, title: chat.title, model: chat.model }, messages, estimate };
};

const renameForm = z.object({
	title: z
		.string()
		.trim()
		.min(1, 'Give the chat a name.')
		.max(80, 'Keep the name under 80 characters.')
});

export const actions: Actions = {
	rename: async ({ params, request, locals }) => {
		if (!locals.user) error(401, 'Sign in first.');
		const form = renameForm.safeParse(await readForm(request));
		if (!form.success) return fail(400, { error: form.error.issues[0].message });
		const { database } = await runtime();
		if (!(await renameChat(database.db, params.id, locals.user.id, form.data.title))) {
			error(404, 'This chat does not exist.');
		}
		return { renamed: true };
	},
	delete: async ({ params, locals }) => {
		if (!locals.user) error(401, 'Sign in first.');
		const { database } = await runtime();
		if (!(await deleteChat(database.db, params.id, locals.user.id))) {
			error(404, 'This chat does not exist.');
		}
		redirect(303, '/dashboard/chat');
	}
};
