import { z } from 'zod';

/** Parts in one message: the composer sends one text part; a few more leave room for files. */
export const MAX_PARTS = 16;
/**
 * The longest text part the schema lets through. The request body is already capped in bytes
 * (see `maxBodyBytes`), and CHAT_MAX_INPUT_CHARS is checked right after parsing (413), so this
 * only guarantees that nothing unbounded reaches any later step.
 */
export const MAX_TEXT_PART_CHARS = 1_000_000;

/**
 * A message part: text is read, other types (files, step markers) are accepted and ignored.
 * Text PostgreSQL cannot store (NUL, lone surrogates) never gets here: `readJson` refuses it.
 */
const part = z.object({
	type: z.string().min(1).max(40),
	text: z.string().max(MAX_TEXT_PART_CHARS).optional()
});

/** The user's new message, in the AI SDK's UI message shape. */
const newMessage = z.object({
	id: z.string().regex(/^[\w-]{1,100}$/, 'must be 1-100 letters, digits, _ or -'),
	role: z.literal('user'),
	parts: z.array(part).min(1).max(MAX_PARTS)
});

/**
 * `POST /api/chat`: the chat, the user's new message and the chosen model. The server owns the
 * conversation: earlier messages come from the database, never from the browser. A message id
 * that is already stored (regenerate, edit) replaces that question and everything after it.
 */
export const chatRequest = z.object({
	id: z.string().regex(/^[\w-]{1,64}$/, 'must be 1-64 letters, digits, _ or -'),
	message: newMessage,
	model: z.string().min(1).max(100)
});

export type ChatRequest = z.infer<typeof chatRequest>;

/**
 * The largest body worth reading: a message of `maxInputChars` characters, each escaped in JSON
 * as at most 6 bytes (`\uXXXX`), plus room for ids, the model and part framing.
 */
export function maxBodyBytes(maxInputChars: number): number {
	return maxInputChars * 6 + 16_384;
}

/** The new message as plain text (text parts joined). */
export function questionOf(request: ChatRequest): { id: string; text: string } {
	const text = request.message.parts
		.map((part) => (part.type === 'text' ? (part.text ?? '') : ''))
		.join('');
	return { id: request.message.id, text };
}
