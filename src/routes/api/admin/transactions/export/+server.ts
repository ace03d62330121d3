import { openExplorerRows } from '$lib/server/admin/transactions';
import { csvResponse } from '$lib/server/http/csv';
import { apiErrorResponse, invalidInput, requireApiAdmin } from '$lib/server/http/errors';
import { queryObject } from '$lib/server/http/history-query';
import { runtime } from '$lib/server/runtime';
import { explorerFilterQuery, toExplorerFilter } from '../schema';
import type { RequestHandler } from './$types';

const HEADER = [
	'time_utc',
	'user_id',
	'email',
	'type',
	'description',
	'amount',
	'balance_after',
	'model',
	'input_tokens',
	'output_tokens',
	'total_tokens',
	'chat_id',
	'package_id',
	'transaction_id'
];

/** Every ledger row the explorer's filter matches, as CSV, streamed page by page. */
export const GET: RequestHandler = async ({ locals, url }) => {
	try {
		requireApiAdmin(locals);
		const query = explorerFilterQuery.safeParse(queryObject(url.searchParams));
		if (!query.success) throw invalidInput(query.error);
		const { database } = await runtime();
		const rows = await openExplorerRows(database.db, toExplorerFilter(query.data));
		const day = new Date().toISOString().slice(0, 10);
		return csvResponse({
			header: HEADER,
			rows,
			cells: (row) => [
				row.createdAt,
				row.userId,
				row.email,
				row.type,
				row.description,
				row.amount,
				row.balanceAfter,
				row.model,
				row.inputTokens,
				row.outputTokens,
				row.totalTokens,
				row.chatId,
				row.packageId,
				row.id
			],
			filename: `ledger-${day}.csv`,
			requestId: locals.requestId,
			what: 'admin ledger export'
		});
	} catch (error) {
		return apiErrorResponse(error);
	}
};
