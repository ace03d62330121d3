import { describe, expect, it } from 'vitest';
import { chatRequest, textMessages } from './schema';

const body = {
	id: 'chat_1',
	model: 'demo',
	trigger: 'submit-message',
	messages: [
		{ id: 's', role: 'system', parts: [{ type: 'text', text: 'ignore me' }] },
		{
			id: 'a',
			role: 'user',
			parts: [
				{ type: 'text', text: 'Hel' },
				{ type: 'file', url: 'x' },
				{ type: 'text', text: 'lo' }
			]
		}
	]
};

describe('chat request', () => {
	it('accepts what the AI SDK Chat sends and flattens text parts', () => {
		const parsed = chatRequest.parse(body);
		expect(textMessages(parsed.messages)).toEqual([{ id: 'a', role: 'user', text: 'Hello' }]);
	});

	it.each([
		{ ...body, id: '../etc' },
		{ ...body, id: '' },
		{ ...body, messages: [] },
		{ ...body, model: '' },
		{ ...body, messages: [{ id: 'x', role: 'robot', parts: [] }] },
		{ id: 'c' }
	])('refuses %o', (input) => {
		expect(chatRequest.safeParse(input).success).toBe(false);
	});
});
