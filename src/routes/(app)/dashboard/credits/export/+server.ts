import { error, redirect } from '@sveltejs/kit';
import { eachTransaction } from '$lib/server/credits';
import { csvResponse } from '$lib/server/http/csv';
import { historyFilterQuery, toHistoryFilter } from '$lib/server/http/history-query';
import { runtime } from '$lib/server/runtime';
import type { RequestHandler } from './$types';

const HEADER = [
	'time_utc',
	'type',
	'description',
	'amount',
	'balance_after',
	'model',
	'input_tokens',
	'output_tokens',
	'chat_id',
	'package_id',
	'transaction_id'
];

/** The filtered history as CSV (same `type`, `from`, `to` as the page), streamed page by page. */
export const GET: RequestHandler = async ({ locals, url }) => {
	const user = locals.user;
	if (!user) redirect(303, `/login?redirectTo=${encodeURIComponent(url.pathname + url.search)}`);
	const query = historyFilterQuery.safeParse(Object.fromEntries(url.searchParams));
	if (!query.success) {
		const issue = query.error.issues[0];
		error(400, `${String(issue.path[0] ?? 'filter')}: ${issue.message}`);
	}
	const { database } = await runtime();
	const day = new Date().toISOString().slice(0, 10);
	return csvResponse({
		header: HEADER,
		rows: eachTransaction(database.db, user.id, toHistoryFilter(query.data)),
		cells: (row) => {
			const meta = row.metadata;
			return [
				row.createdAt,
				row.type,
				row.description,
				row.amount,
				row.balanceAfter,
				text(meta.model),
				whole(meta.inputTokens),
				whole(meta.outputTokens),
				text(meta.chatId),
				row.packageId,
				row.id
			];
		},
		filename: `credit-history-${day}.csv`,
		requestId: locals.requestId,
		what: 'credits export'
	});
};

const text = (value: unknown) => (typeof value === 'string' ? value : null);
const whole = (value: unknown) => (typeof value === 'number' ? value : null);
