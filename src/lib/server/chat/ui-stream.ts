import type { UIMessageChunk } from 'ai';

/**
 * The AI SDK's UI message stream protocol (what `@ai-sdk/svelte`'s Chat reads), written directly:
 * every chunk is one `data: <json>\n\n` event, encoded once however many listeners it has, and the
 * stream ends with `data: [DONE]`. The SDK's own response helper reaches the same bytes through
 * three more stream layers per listener (JSON→SSE, keep-alive, text encoding).
 */
export const UI_STREAM_HEADERS = {
	'content-type': 'text/event-stream',
	'cache-control': 'no-cache',
	connection: 'keep-alive',
	'x-vercel-ai-ui-message-stream': 'v1',
	// Tells nginx not to buffer the events (our nginx configuration also turns buffering off).
	'x-accel-buffering': 'no'
} as const;

const encoder = new TextEncoder();

/** The event that ends every UI message stream. */
export const DONE_EVENT = encoder.encode('data: [DONE]\n\n');

/** One chunk as its SSE event. */
export function sseEvent(chunk: UIMessageChunk): Uint8Array {
	return encoder.encode(`data: ${JSON.stringify(chunk)}\n\n`);
}

/** A streamed response of UI message stream events. */
export function uiStreamResponse(body: ReadableStream<Uint8Array>): Response {
	return new Response(body, { headers: UI_STREAM_HEADERS });
}

/** Chunks (a stored reply, one followed from another instance) as SSE events, then the end. */
export function sseStream(chunks: ReadableStream<UIMessageChunk>): ReadableStream<Uint8Array> {
	return chunks.pipeThrough(
		new TransformStream<UIMessageChunk, Uint8Array>({
			transform: (chunk, controller) => controller.enqueue(sseEvent(chunk)),
			flush: (controller) => controller.enqueue(DONE_EVENT)
		})
	);
}
