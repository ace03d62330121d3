import { json } from '@sveltejs/kit';
import { listTransactions } from '$lib/server/credits';
import { apiErrorResponse, invalidInput, requireApiUser } from '$lib/server/http/errors';
import { toHistoryFilter } from '$lib/server/http/history-query';
import { runtime } from '$lib/server/runtime';
import { transactionsQuery } from './schema';
import type { RequestHandler } from './$types';

/**
 * The signed-in user's ledger, newest first:
 * `?limit=1..100&cursor=<nextCursor>&type=usage,refund&from=2026-11-01&to=2026-11-30`.
 */
export const GET: RequestHandler = async ({ locals, url }) => {
	try {
		const user = requireApiUser(locals);
		const query = transactionsQuery.safeParse(Object.fromEntries(url.searchParams));
		if (!query.success) throw invalidInput(query.error);
		const { database } = await runtime();
		const page = await listTransactions(database.db, user.id, {
			...toHistoryFilter(query.data),
			limit: query.data.limit,
			cursor: query.data.cursor
		});
		return json(page, { headers: { 'cache-control': 'no-store' } });
	} catch (error) {
		return apiErrorResponse(error);
	}
};
