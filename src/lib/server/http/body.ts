import type { AppError } from '../errors';

/**
 * The request body parsed as JSON, or undefined when it is not JSON (the caller's schema then
 * answers 400). A body over `maxBytes` (declared in Content-Length, or found while reading) is
 * refused with `tooLarge()` and never buffered or parsed: the rest is read and dropped, so the
 * client gets the 413 rather than a reset connection (adapter-node's BODY_SIZE_LIMIT bounds how
 * much that can be).
 */
export async function readJsonBody(
	request: Request,
	maxBytes: number,
	tooLarge: () => AppError
): Promise<unknown> {
	let oversized = Number(request.headers.get('content-length') ?? NaN) > maxBytes;
	if (!request.body) return undefined;
	const reader = request.body.getReader();
	const chunks: Uint8Array[] = [];
	let size = 0;
	for (;;) {
		let next: ReadableStreamReadResult<Uint8Array>;
		try {
			next = await reader.read();
		} catch (error) {
			// adapter-node's own limit ends the stream with a 413; anything else (a client gone
			// mid-upload) leaves a body that is not JSON.
			if (oversized || (error instanceof Error && 'status' in error && error.status === 413)) {
				throw tooLarge();
			}
			return undefined;
		}
		if (next.done) break;
		size += next.value.byteLength;
		if (size > maxBytes) oversized = true;
		if (oversized) chunks.length = 0;
		else chunks.push(next.value);
	}
	if (oversized) throw tooLarge();
	try {
		return JSON.parse(Buffer.concat(chunks).toString('utf8'));
	} catch {
		return undefined;
	}
}
