import { replyEstimate } from '$lib/server/chat/reply';
import { runtime } from '$lib/server/runtime';
import type { PageServerLoad } from './$types';

// A new chat has no history: the composer's credits hint needs only the server's limits.
// Streamed (not awaited), like the chat page's: nothing waits for it.
export const load: PageServerLoad = () => ({
	estimate: runtime()
		.then(({ database, config }) => replyEstimate({ db: database.db, config: config.chat }, null))
		.catch(() => undefined)
});
