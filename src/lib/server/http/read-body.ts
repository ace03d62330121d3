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
export async function readJson(request: Request): Promise<unknown> {
	const text = await readText(request);
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

/** The raw body text (webhooks verify signatures on it); an oversized body is a 413 AppError. */
export async function readText(request: Request): Promise<string> {
	try {
		return await request.text();
	} catch (cause) {
		if (isPayloadTooLarge(cause)) {
			throw new AppError(413, 'payload_too_large', 'The request body is larger than allowed.');
		}
		throw cause;
	}
}
