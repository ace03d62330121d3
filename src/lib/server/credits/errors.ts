export type LedgerErrorCode =
	| 'insufficient_credits'
	| 'too_many_holds'
	| 'idempotency_conflict'
	| 'hold_not_found'
	| 'hold_already_resolved'
	| 'package_not_found'
	| 'user_not_found'
	| 'invalid_amount';

/**
 * Every refusal of the ledger. `message` is safe to show to users; the HTTP layer maps `code`
 * to a status (src/lib/server/http/errors.ts). A refused operation has written nothing.
 */
export class LedgerError extends Error {
	constructor(
		readonly code: LedgerErrorCode,
		message: string,
		readonly details: Record<string, unknown> = {}
	) {
		super(message);
		this.name = 'LedgerError';
	}
}
