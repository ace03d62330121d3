import { json } from '@sveltejs/kit';

/**
 * The one error type domain code throws for anything a client can cause. `message` is safe to show
 * to users; `status` is what the HTTP layer answers.
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

/** The JSON API's error body: `{ error: { code, message, ...details } }`. */
export function errorResponse(status: number, code: string, message: string, details = {}) {
	return json({ error: { code, message, ...details } }, { status });
}

/** Maps a thrown error to a JSON response; anything that is not an AppError is re-thrown (a 500). */
export function appErrorResponse(error: unknown): Response {
	if (error instanceof AppError) {
		return errorResponse(error.status, error.code, error.message, error.details);
	}
	throw error;
}
