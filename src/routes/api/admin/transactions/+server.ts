import { json } from '@sveltejs/kit';
import { explorerTotals, listExplorerRows } from '$lib/server/admin/transactions';
import { apiErrorResponse, invalidInput, requireApiAdmin } from '$lib/server/http/errors';
import { queryObject } from '$lib/server/http/history-query';
import { runtime } from '$lib/server/runtime';
import { explorerPageQuery, toExplorerFilter } from './schema';
import type { RequestHandler } from './$types';

/**
 * Every user's ledger rows, newest first, with the totals of the whole filter:
 * `?user=&type=&model=&from=&to=&min=&max=&cursor=&limit=` → `{ items, nextCursor, totals }`.
 */
export const GET: RequestHandler = async ({ locals, url }) => {
	try {
		requireApiAdmin(locals);
		const query = explorerPageQuery.safeParse(queryObject(url.searchParams));
		if (!query.success) throw invalidInput(query.error);
		const { database } = await runtime();
		const filter = toExplorerFilter(query.data);
		const [page, totals] = await Promise.all([
			listExplorerRows(database.db, filter, { limit: query.data.limit, cursor: query.data.cursor }),
			explorerTotals(database.db, filter)
		]);
		return json({ ...page, totals }, { headers: { 'cache-control': 'no-store' } });
	} catch (error) {
		return apiErrorResponse(error);
	}
};
