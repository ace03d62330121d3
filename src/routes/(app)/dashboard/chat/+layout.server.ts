import { boundChatSearch, type ChatSearchHit } from '$lib/chat-search';
import { listChats, searchChats } from '$lib/server/chat/history';
import { runtime } from '$lib/server/runtime';
import type { ChatModelOption, ChatSummary } from '$lib/types';
import type { LayoutServerLoad } from './$types';

/**
 * The sidebar (the user's chats, or those matching `?q=`) and the model picker, shared by every
 * chat page.
 */
export const load: LayoutServerLoad = async ({ parent, depends, url }) => {
	const { user } = await parent();
	depends('app:chats');
	const { database, models, config } = await runtime();
	const chats: ChatSummary[] = (await listChats(database.db, user.id)).map((c) => ({
		id: c.id,
		title: c.title,
		updatedAt: c.updatedAt.toISOString()
	}));
	// The search box is a GET form, so it works before (and without) JavaScript.
	const q = boundChatSearch(url.searchParams.get('q'));
	const search: { q: string; chats: ChatSearchHit[] } | null = q
		? { q, chats: await searchChats(database.db, user.id, q) }
		: null;
	const modelOptions: ChatModelOption[] = models.models.map(({ id, label, rate }) => ({
		id,
		label,
		rate
	}));
	// The composer counts characters against the limit the server enforces (413 past it).
	const maxInputChars = config.chat.maxInputChars;
	return {
		chats,
		search,
		models: modelOptions,
		defaultModel: models.defaultModelId,
		maxInputChars
	};
};
