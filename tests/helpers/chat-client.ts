import type { HttpClient } from './http-client';
import { sseData } from './sse';

export interface ChatResult {
	status: number;
	/** The text the client received. */
	text: string;
	/** The UI message stream chunks (parsed `data:` lines), or the JSON error body. */
	chunks: { type: string; [key: string]: unknown }[];
	error?: { code: string; message: string; [key: string]: unknown };
}

let counter = 0;

/** Sends one user message to POST /api/chat the way @ai-sdk/svelte's Chat does, and reads it all. */
export async function sendChat(
	client: HttpClient,
	options: {
		chatId?: string;
		text?: string;
		model: string;
		history?: { id: string; role: 'user' | 'assistant'; text: string }[];
		/** Abort after this many text deltas arrived (the Stop button). */
		stopAfterDeltas?: number;
	}
): Promise<ChatResult & { chatId: string }> {
	const chatId = options.chatId ?? `chat-${Date.now()}-${counter++}`;
	const messages = [
		...(options.history ?? []),
		{ id: `m-${counter++}`, role: 'user' as const, text: options.text ?? 'Hello there' }
	].map((m) => ({ id: m.id, role: m.role, parts: [{ type: 'text', text: m.text }] }));
	const controller = new AbortController();
	const response = await client.request('/api/chat', {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ id: chatId, messages, model: options.model, trigger: 'submit-message' }),
		signal: controller.signal
	});
	if (!response.headers.get('content-type')?.includes('text/event-stream')) {
		const body = await response.json();
		return { chatId, status: response.status, text: '', chunks: [], error: body.error };
	}
	const chunks: ChatResult['chunks'] = [];
	let text = '';
	let deltas = 0;
	try {
		for await (const data of sseData(response.body!)) {
			if (data === '[DONE]') continue;
			const chunk = JSON.parse(data);
			chunks.push(chunk);
			if (chunk.type !== 'text-delta') continue;
			text += chunk.delta;
			deltas++;
			if (options.stopAfterDeltas !== undefined && deltas >= options.stopAfterDeltas) {
				controller.abort();
				break;
			}
		}
	} catch (error) {
		if (!controller.signal.aborted) throw error;
	}
	return { chatId, status: response.status, text, chunks };
}
