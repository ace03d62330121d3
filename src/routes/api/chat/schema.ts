import { z } from 'zod';

// The AI SDK's UI message shape; only text parts are used, other part types are ignored.
const part = z.looseObject({ type: z.string(), text: z.string().optional() });

const message = z.looseObject({
	id: z.string().min(1).max(100),
	role: z.enum(['user', 'assistant', 'system']),
	parts: z.array(part).max(500)
});

/** `POST /api/chat`: what @ai-sdk/svelte's Chat sends, plus the chosen model. */
export const chatRequest = z.looseObject({
	id: z.string().regex(/^[\w-]{1,64}$/, 'must be 1-64 letters, digits, _ or -'),
	messages: z.array(message).min(1, 'must hold at least the new message').max(1000),
	model: z.string().min(1).max(100)
});

export type ChatRequest = z.infer<typeof chatRequest>;

/** The conversation as plain text messages (system messages from the browser are dropped). */
export function textMessages(messages: ChatRequest['messages']) {
	return messages
		.filter((m) => m.role !== 'system')
		.map((m) => ({
			id: m.id,
			role: m.role as 'user' | 'assistant',
			text: m.parts
				.filter((p) => p.type === 'text')
				.map((p) => p.text ?? '')
				.join('')
		}));
}
