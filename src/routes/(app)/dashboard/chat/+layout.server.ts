import { listChats } from '$lib/server/chat/history';
import { runtime } from '$lib/server/runtime';
import type { ChatModelOption, ChatSummary } from '$lib/types';
import type { LayoutServerLoad } from './$types';

/** The sidebar (the user's chats) and the model picker, shared by every chat page. */
export const load: LayoutServerLoad = async ({ parent, depends }) => {
	const { user } = await parent();
	depends('app:chats');
	const { database, models, config } = await runtime();
	const chats: ChatSummary[] = (await listChats(database.db, user.id)).map((c) => ({
		id: c.id,
		title: c.title,
		updatedAt: c.updatedAt.toISOString()
	}));
	const modelOptions: ChatModelOption[] = models.models.map(({ id, label, rate }) => ({
		id,
		label,
		rate
	}));
	// The composer counts characters against the limit the server enforces (413 past it).
	const maxInputChars = config.chat.maxInputChars;
	return { chats, models: modelOptions, defaultModel: models.defaultModelId, maxInputChars };
};
