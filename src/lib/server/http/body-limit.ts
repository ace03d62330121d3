import type { Handle, RequestEvent } from '@sveltejs/kit';
import { env } from '$env/dynamic/private';
import { errorResponse } from './errors';

/**
 * `BODY_SIZE_LIMIT` as adapter-node reads it (`512K`, `1M`, a byte count or `Infinity`); the
 * default is adapter-node's too. NaN for anything else, which adapter-node refuses at start.
 */
export function parseBodySizeLimit(value: string | undefined): number {
	const text = value?.trim() || '512K';
	const multiplier = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[text.slice(-1).toUpperCase()];
	return multiplier ? Number(text.slice(0, -1)) * multiplier : Number(text);
}

/**
 * The request's declared `Content-Length` when it exceeds `limit`, else null. A malformed header
 * is left to Node, which refuses it before it gets here.
 */
export function declaredLengthOver(headers: Headers, limit: number): number | null {
	const declared = Number(headers.get('content-length') ?? NaN);
	return Number.isFinite(declared) && declared > limit ? declared : null;
}

/**
 * Reads a copy of a body that came without `Content-Length` (chunked) and says whether it is
 * larger than `limit`. adapter-node stops such a body at the limit with a 413 error on the
 * stream, but that error surfaces wherever a route reads the body: better-auth and any
 * `request.json().catch(...)` would turn it into a 500 or a misleading 400. The original body
 * stays readable (a tee), and at most `limit` bytes are held, as the route would hold anyway.
 */
export async function streamedBodyOver(request: Request, limit: number): Promise<boolean> {
	const reader = request.clone().body?.getReader();
	if (!reader) return false;
	let size = 0;
	try {
		for (;;) {
			const { done, value } = await reader.read();
			if (done) return false;
			size += value.byteLength;
			if (size > limit) {
				// Not awaited: a tee branch's cancel settles only once the original is cancelled too.
				void reader.cancel();
				return true;
			}
		}
	} catch (error) {
		// adapter-node's own limit error; anything else (a client that hung up) is the route's.
		return isPayloadTooLarge(error);
	}
}

/** True for the 413 adapter-node raises on a request body stream past BODY_SIZE_LIMIT. */
export function isPayloadTooLarge(error: unknown): boolean {
	for (let e = error; e instanceof Error; e = e.cause) {
		if ((e as { status?: unknown }).status === 413) return true;
	}
	return false;
}

/** The 413 in the shape the asker reads: the API's JSON, an action result, or a small page. */
export function payloadTooLarge(event: RequestEvent, limit: number): Response {
	const message = `The request body is larger than the ${formatBytes(limit)} this server accepts.`;
	if (event.url.pathname.startsWith('/api/')) {
		return errorResponse(413, 'payload_too_large', message, { limit });
	}
	const accept = event.request.headers.get('accept') ?? '';
	if (accept.includes('application/json')) {
		// What a form action enhanced with use:enhance expects: an ActionResult of type error.
		return Response.json(
			{ type: 'error', error: { message, id: event.locals.requestId } },
			{ status: 413 }
		);
	}
	const page = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Request too large</title><h1>413 Request too large</h1><p>${message} Shorten what you sent and try again.</p></html>`;
	return new Response(page, {
		status: 413,
		headers: { 'content-type': 'text/html; charset=utf-8' }
	});
}

function formatBytes(bytes: number): string {
	if (bytes >= 1024 ** 2 && bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2} MB`;
	if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KB`;
	return `${bytes} bytes`;
}

let cachedLimit: number | undefined;

/**
 * Refuses request bodies over BODY_SIZE_LIMIT with a 413 before any route, hook or library
 * reads them, so an oversized body is one clear answer everywhere (API, form actions, auth)
 * instead of whatever each reader makes of adapter-node's stream error.
 */
export const bodyLimit: Handle = async ({ event, resolve }) => {
	const limit = (cachedLimit ??= parseBodySizeLimit(env.BODY_SIZE_LIMIT));
	if (!Number.isFinite(limit) || !event.request.body) return resolve(event);
	if (declaredLengthOver(event.request.headers, limit) !== null) {
		return payloadTooLarge(event, limit);
	}
	if (!event.request.headers.has('content-length')) {
		if (await streamedBodyOver(event.request, limit)) return payloadTooLarge(event, limit);
	}
	return resolve(event);
};
