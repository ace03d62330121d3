import { error } from '@sveltejs/kit';
import { AppError } from '../errors';
import { hasUnstorableText } from '../text';
import { isPayloadTooLarge } from './body-limit';

const NUL_MESSAGE =
	'must not contain NUL (\\u0000) characters or lone surrogates, which cannot be stored';

/**
 * A form action's fields. A body that is not a form (wrong content type, broken multipart) is
 * the client's mistake and answers 400 instead of the TypeError `formData()` throws; a NUL
 * character, which PostgreSQL text cannot hold, is refused before any route stores it.
 */
export async function readForm(request: Request): Promise<Record<string, FormDataEntryValue>> {
	let data: FormData;
	try {
		data = await request.formData();
	} catch (cause) {
		if (isPayloadTooLarge(cause)) error(413, 'The form is larger than this server accepts.');
		error(400, 'The form could not be read: send it as a form (urlencoded or multipart).');
	}
	const fields = Object.fromEntries(data);
	for (const value of Object.values(fields)) {
		if (typeof value === 'string' && value.includes('\0'))
			error(400, `A form field ${NUL_MESSAGE}.`);
	}
	return fields;
}

/**
 * A JSON API body, or undefined when it is not JSON (the route's schema then names the
 * problem). Oversized bodies and NUL characters anywhere in it are refused as AppErrors.
 */
export async function readJson(request: Request, limit?: BodyLimit): Promise<unknown> {
	const text = await readText(request, limit);
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch {
		return undefined;
	}
	if (hasUnstorableText(value)) {
		throw new AppError(400, 'invalid_request', `body: text ${NUL_MESSAGE}.`, { field: 'body' });
	}
	return value;
}

/** A route's own, tighter bound than BODY_SIZE_LIMIT, and the error that refuses more. */
export interface BodyLimit {
	maxBytes: number;
	tooLarge?: () => AppError;
}

const payloadTooLarge = () =>
	new AppError(413, 'payload_too_large', 'The request body is larger than allowed.');

/**
 * The raw body text (webhooks verify signatures on it); an oversized body is a 413 AppError.
 * With a `limit`, a body over it is never buffered or parsed: the rest is read and dropped, so
 * the client gets the 413 rather than a reset connection (BODY_SIZE_LIMIT bounds how much).
 */
export async function readText(request: Request, limit?: BodyLimit): Promise<string> {
	const tooLarge = limit?.tooLarge ?? payloadTooLarge;
	if (!limit) {
		try {
			return await request.text();
		} catch (cause) {
			if (isPayloadTooLarge(cause)) throw tooLarge();
			throw cause;
		}
	}
	let oversized = Number(request.headers.get('content-length') ?? NaN) > limit.maxBytes;
	if (!request.body) return '';
	const reader = request.body.getReader();
	const chunks: Uint8Array[] = [];
	let size = 0;
	for (;;) {
		let next: ReadableStreamReadResult<Uint8Array>;
		try {
			next = await reader.read();
		} catch (cause) {
			if (oversized || isPayloadTooLarge(cause)) throw tooLarge();
			// A client gone mid-upload leaves a body that is not JSON.
			return '';
		}
		if (next.done) break;
		size += next.value.byteLength;
		if (size > limit.maxBytes) oversized = true;
		if (oversized) chunks.length = 0;
		else chunks.push(next.value);
	}
	if (oversized) throw tooLarge();
	return Buffer.concat(chunks).toString('utf8');
}
