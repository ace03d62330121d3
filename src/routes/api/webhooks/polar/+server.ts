import { json } from '@sveltejs/kit';
import { handlePolarWebhook } from '$lib/server/billing/webhook';
import { apiErrorResponse } from '$lib/server/http/errors';
import { readText } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import type { RequestHandler } from './$types';

/**
 * Polar's webhook endpoint. Public on purpose (hooks.server.ts lets /api/webhooks/* through
 * without a session); the signature is the authentication, checked on the raw body.
 */
export const POST: RequestHandler = async ({ request }) => {
	let body: string;
	try {
		body = await readText(request);
	} catch (error) {
		return apiErrorResponse(error);
	}
	const { database, billing } = await runtime();
	let answer: Awaited<ReturnType<typeof handlePolarWebhook>>;
	try {
		answer = await handlePolarWebhook(
			database.db,
			{ body, headers: request.headers },
			billing.webhookSecret
		);
	} catch (error) {
		// An unreachable database is a 503: nothing was stored, and Polar retries the delivery
		// (same webhook-id) until it is. Other failures stay 500s, which Polar retries too.
		return apiErrorResponse(error);
	}
	return json(answer.body, { status: answer.status, headers: { 'cache-control': 'no-store' } });
};
