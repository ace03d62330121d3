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
		/**
		 * Abort the request after this many text deltas arrived (a closed tab: the reply goes on
		 * on the server).
		 */
		stopAfterDeltas?: number;
		/**
		 * Press Stop (POST /api/chat/{id}/stop) after this many text deltas arrived, and read on
		 * until the server ends the reply.
		 */
		pressStopAfterDeltas?: number;
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
			if (deltas === options.pressStopAfterDeltas) {
				const stop = await client.request(`/api/chat/${encodeURIComponent(chatId)}/stop`, {
					method: 'POST'
				});
				if (!stop.ok) throw new Error(`Stop answered ${stop.status}`);
			}
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

/**
 * Resumes the chat's running reply the way the AI SDK's `resumeStream` does
 * (GET /api/chat/{id}/stream) and reads it to the end. `firstDeltaAt`: ms from the request until
 * the first text arrived.
 */
export async function resumeChat(
	client: HttpClient,
	chatId: string,
	options: { after?: string } = {}
): Promise<ChatResult & { firstDeltaAt: number | null; endedAt: number }> {
	const started = Date.now();
	const after = options.after ? `?after=${encodeURIComponent(options.after)}` : '';
	const response = await client.request(`/api/chat/${encodeURIComponent(chatId)}/stream${after}`);
	const chunks: ChatResult['chunks'] = [];
	let text = '';
	let firstDeltaAt: number | null = null;
	if (response.status !== 200) {
		const body = response.status === 204 ? '' : await response.text();
		return {
			status: response.status,
			headers: response.headers,
			text,
			chunks,
			error: body ? JSON.parse(body).error : undefined,
			firstDeltaAt,
			endedAt: Date.now() - started
		};
	}
	for await (const data of sseData(response.body!)) {
		if (data === '[DONE]') continue;
		const chunk = JSON.parse(data);
		chunks.push(chunk);
		if (chunk.type !== 'text-delta') continue;
		firstDeltaAt ??= Date.now() - started;
		text += chunk.delta;
	}
	return {
		status: response.status,
		headers: response.headers,
		text,
		chunks,
		firstDeltaAt,
		endedAt: Date.now() - started
	};
}

/** Presses Stop for the chat (POST /api/chat/{id}/stop). */
export async function stopChat(
	client: HttpClient,
	chatId: string
): Promise<{ status: number; body: Record<string, unknown> }> {
	const response = await client.request(`/api/chat/${encodeURIComponent(chatId)}/stop`, {
		method: 'POST'
	});
	return { status: response.status, body: await response.json() };
}
