import type { AppError } from '../errors';

/**
 * The request body parsed as JSON, or undefined when it is not JSON (the caller's schema then
 * answers 400). A body over `maxBytes` is refused with `tooLarge()` as soon as it is known to be
 * too big — from Content-Length, or while reading — so a huge body is never buffered or parsed.
 */
export async function readJsonBody(
	request: Request,
	maxBytes: number,
	tooLarge: () => AppError
): Promise<unknown> {
	const declared = Number(request.headers.get('content-length') ?? NaN);
	if (declared > maxBytes) throw tooLarge();
	if (!request.body) return undefined;
	const reader = request.body.getReader();
	const chunks: Uint8Array[] = [];
	let size = 0;
	for (;;) {
		let next: ReadableStreamReadResult<Uint8Array>;
		try {
			next = await reader.read();
		} catch (error) {
			// adapter-node's own BODY_SIZE_LIMIT ends the stream with a 413; anything else (a client
			// gone mid-upload) leaves a body that is not JSON.
			if (error instanceof Error && 'status' in error && error.status === 413) throw tooLarge();
			return undefined;
		}
		const { done, value } = next;
		if (done) break;
		size += value.byteLength;
		if (size > maxBytes) {
			void reader.cancel().catch(() => {});
			throw tooLarge();
		}
		chunks.push(value);
	}
	try {
		return JSON.parse(Buffer.concat(chunks).toString('utf8'));
	} catch {
		return undefined;
	}
}
