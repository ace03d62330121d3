type Cell = string | number | boolean | null | undefined;
import { log } from '../log';

/**
 * One CSV line (RFC 4180, CRLF). Numbers are written as they are; every text cell is quoted,
 * and one that a spreadsheet would run as a formula (starting with = + - @, a tab or a
 * carriage return) gets a leading apostrophe, so a chat title or a description can never
 * become a formula in the file someone opens in Excel (OWASP "CSV injection").
 */
export function csvLine(cells: Cell[]): string {
	return cells.map(csvCell).join(',') + '\r\n';
}

function csvCell(value: Cell): string {
	if (value === null || value === undefined) return '';
	if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
	if (typeof value === 'boolean') return value ? 'true' : 'false';
	const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
	return `"${safe.replaceAll('"', '""')}"`;
}

/**
 * A CSV download streamed from `rows` (read page by page by the caller's generator), so an
 * export of a million rows never holds more than one page in memory. If reading fails after the
 * 200 and the first rows are sent, the status cannot say it any more: the file ends with a line
 * saying it is incomplete, and the log says why.
 */
export function csvResponse<T>(options: {
	header: string[];
	rows: AsyncGenerator<T>;
	cells: (row: T) => Cell[];
	filename: string;
	requestId: string;
	/** What failed, for the log: `credits export`. */
	what: string;
}): Response {
	const { rows, requestId } = options;
	const encoder = new TextEncoder();
	const body = new ReadableStream<Uint8Array>({
		start(controller) {
			controller.enqueue(encoder.encode(csvLine(options.header)));
		},
		async pull(controller) {
			// Up to 200 rows per chunk: few enqueues, and still only one page in memory.
			let chunk = '';
			for (let i = 0; i < 200; i++) {
				let next: IteratorResult<T>;
				try {
					next = await rows.next();
				} catch (cause) {
					log.error(
						{ requestId, err: cause },
						`[${requestId}] ${options.what} failed after the 200`
					);
					controller.enqueue(encoder.encode(chunk + failureLine(requestId)));
					controller.close();
					return;
				}
				if (next.done) {
					if (chunk) controller.enqueue(encoder.encode(chunk));
					controller.close();
					return;
				}
				chunk += csvLine(options.cells(next.value));
			}
			controller.enqueue(encoder.encode(chunk));
		},
		async cancel() {
			await rows.return(undefined);
		}
	});
	return new Response(body, {
		headers: {
			'content-type': 'text/csv; charset=utf-8',
			'content-disposition': `attachment; filename="${options.filename}"`,
			'cache-control': 'no-store'
		}
	});
}

/**
 * The last line of an export that broke off. It starts with `#`, which spreadsheet imports and
 * most CSV readers treat as a comment or at least never as a ledger row.
 */
const failureLine = (requestId: string) =>
	`# export failed: the history could not be read to the end, so this file is incomplete; request id ${requestId}\r\n`;
