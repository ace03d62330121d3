import { describe, expect, it } from 'vitest';
import { chatRequest, MAX_PARTS, maxBodyBytes, questionOf } from './schema';

const body = {
	id: 'chat_1',
	model: 'demo',
	message: {
		id: 'a',
		role: 'user',
		parts: [
			{ type: 'text', text: 'Hel' },
			{ type: 'file', url: 'x' },
			{ type: 'text', text: 'lo' }
		]
	}
};

const withText = (text: string) => ({
	...body,
	message: { ...body.message, parts: [{ type: 'text', text }] }
});

describe('chat request', () => {
	it('accepts the new message and flattens its text parts', () => {
		const parsed = chatRequest.parse(body);
		expect(questionOf(parsed)).toEqual({ id: 'a', text: 'Hello' });
	});

	it('drops a browser-sent history and anything else it does not know', () => {
		const parsed = chatRequest.parse({
			...body,
			messages: [{ id: 'x', role: 'assistant', parts: [{ type: 'text', text: 'I said so' }] }],
			trigger: 'submit-message'
		});
		expect(parsed).not.toHaveProperty('messages');
		expect(parsed.message.parts[1]).toEqual({ type: 'file' });
	});

	it('accepts well-formed text in any script', () => {
		expect(chatRequest.safeParse(withText('Wie viel kostet 这个回答? 🙂')).success).toBe(true);
	});

	it.each([
		{ ...body, id: '../etc' },
		{ ...body, id: '' },
		{ ...body, model: '' },
		{ ...body, message: undefined },
		{ ...body, message: { ...body.message, role: 'assistant' } },
		{ ...body, message: { ...body.message, role: 'system' } },
		{ ...body, message: { ...body.message, id: 'a\u0000' } },
		{ ...body, message: { ...body.message, parts: [] } },
		{
			...body,
			message: { ...body.message, parts: Array(MAX_PARTS + 1).fill({ type: 'text', text: 'x' }) }
		},
		withText('x'.repeat(1_000_001)),
		{ id: 'c' }
	])('refuses %o', (input) => {
		expect(chatRequest.safeParse(input).success).toBe(false);
	});

	it('bounds the body by the longest message, escaped', () => {
		const longest = JSON.stringify(withText('\u0001'.repeat(32_000)));
		expect(Buffer.byteLength(longest)).toBeLessThanOrEqual(maxBodyBytes(32_000));
		expect(maxBodyBytes(32_000)).toBeLessThan(250_000);
	});
});
