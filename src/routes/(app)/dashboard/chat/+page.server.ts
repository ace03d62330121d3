import { replyEstimate } from '$lib/server/chat/reply';
import { runtime } from '$lib/server/runtime';
import type { PageServerLoad } from './$types';

// A new chat has no history: the composer's credits hint needs only the server's limits.
export const load: PageServerLoad = async () => {
	const { database, config } = await runtime();
	return { estimate: await replyEstimate({ db: database.db, config: config.chat }, null) };
};
