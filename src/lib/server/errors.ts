/**
 * The one error type for anything a client can cause outside the ledger (which has its own
 * LedgerError). `message` is safe to show to users; `status` is the HTTP answer, mapped in
 * src/lib/server/http/errors.ts. A request refused this way has written nothing.
 */
export class AppError extends Error {
	constructor(
		readonly status: number,
		readonly code: string,
		message: string,
		readonly details: Record<string, unknown> = {}
	) {
		super(message);
		this.name = 'AppError';
	}
}
