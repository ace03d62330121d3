import { error, redirect } from '@sveltejs/kit';
import { eachTransaction, type TransactionView } from '$lib/server/credits';
import { csvLine } from '$lib/server/http/csv';
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
	const { requestId } = locals;
	const { database } = await runtime();
	const rows = eachTransaction(database.db, user.id, toHistoryFilter(query.data));
	const encoder = new TextEncoder();
	const body = new ReadableStream<Uint8Array>({
		start(controller) {
			controller.enqueue(encoder.encode(csvLine(HEADER)));
		},
		async pull(controller) {
			// Up to 200 rows per chunk: few enqueues, and still only one ledger page in memory.
			let chunk = '';
			for (let i = 0; i < 200; i++) {
				let next: IteratorResult<TransactionView>;
				try {
					next = await rows.next();
				} catch (cause) {
					// The 200 and the first rows are already sent, so the status cannot say it any
					// more: the file ends with a line saying it is incomplete, and the log says why.
					console.error(`[${requestId}] credits export failed after the 200`, cause);
					controller.enqueue(encoder.encode(chunk + failureLine(requestId)));
					controller.close();
					return;
				}
				if (next.done) {
					if (chunk) controller.enqueue(encoder.encode(chunk));
					controller.close();
					return;
				}
				const row = next.value;
				const meta = row.metadata;
				chunk += csvLine([
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
				]);
			}
			controller.enqueue(encoder.encode(chunk));
		},
		async cancel() {
			await rows.return(undefined);
		}
	});
	const day = new Date().toISOString().slice(0, 10);
	return new Response(body, {
		headers: {
			'content-type': 'text/csv; charset=utf-8',
			'content-disposition': `attachment; filename="credit-history-${day}.csv"`,
			'cache-control': 'no-store'
		}
	});
};

/**
 * The last line of an export that broke off. It starts with `#`, which spreadsheet imports and
 * most CSV readers treat as a comment or at least never as a ledger row.
 */
const failureLine = (requestId: string) =>
	`# export failed: the history could not be read to the end, so this file is incomplete; request id ${requestId}\r\n`;

const text = (value: unknown) => (typeof value === 'string' ? value : null);
const whole = (value: unknown) => (typeof value === 'number' ? value : null);
