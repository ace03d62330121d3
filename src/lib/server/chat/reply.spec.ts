import { describe, expect, it } from 'vitest';
import { trimHistory } from './reply';
import { tokensIn } from './tokens';

const message = (id: string, text: string, role: 'user' | 'assistant' = 'user') => ({
	id,
	role,
	text
});

describe('trimHistory', () => {
	const history = [
		message('1', 'one two three four five six seven eight'),
		message('2', 'alpha beta gamma delta', 'assistant'),
		message('3', 'the new question')
	];

	it('keeps everything that fits the budget', () => {
		expect(trimHistory(history, 10_000)).toEqual(history);
	});

	it('drops the oldest messages first', () => {
		const budget = tokensIn(history[1].text) + tokensIn(history[2].text);
		expect(trimHistory(history, budget).map((m) => m.id)).toEqual(['2', '3']);
	});

	it('always keeps the new question, even over budget', () => {
		expect(trimHistory(history, 1).map((m) => m.id)).toEqual(['3']);
	});
});
