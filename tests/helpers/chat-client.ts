import type { HttpClient } from './http-client';
import { sseData } from './sse';

export interface ChatResult {
	status: number;
	headers: Headers;
	/** The text the client received. */
	text: string;
	/** The UI message stream chunks (parsed `data:` lines), or the JSON error body. */
	chunks: { type: string; [key: string]: unknown }[];
	error?: { code: string; message: string; [key: string]: unknown };
}

let counter = 0;

/**
 * Sends one user message to POST /api/chat the way the app's chat view does (the new message
 * only; the server reads the history from the database), and reads the answer to the end.
 */
export async function sendChat(
	client: HttpClient,
	options: {
		chatId?: string;
		text?: string;
		model: string;
		/** The message's id; an id already stored replaces that question (regenerate, edit). */
		messageId?: string;
		/** More body fields, e.g. a forged `messages` history the server must ignore. */
		extra?: Record<string, unknown>;
		/** Abort after this many text deltas arrived (the Stop button). */
		stopAfterDeltas?: number;
	}
): Promise<ChatResult & { chatId: string; messageId: string }> {
	const chatId = options.chatId ?? `chat-${Date.now()}-${counter++}`;
	const messageId = options.messageId ?? `m-${counter++}`;
	const message = {
		id: messageId,
		role: 'user',
		parts: [{ type: 'text', text: options.text ?? 'Hello there' }]
	};
	const controller = new AbortController();
	const response = await client.request('/api/chat', {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ id: chatId, message, model: options.model, ...options.extra }),
		signal: controller.signal
	});
	if (!response.headers.get('content-type')?.includes('text/event-stream')) {
		const body = await response.json();
		return {
			chatId,
			messageId,
			status: response.status,
			headers: response.headers,
			text: '',
			chunks: [],
			error: body.error
		};
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
	return { chatId, messageId, status: response.status, headers: response.headers, text, chunks };
}
