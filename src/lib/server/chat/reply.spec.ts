import { describe, expect, it } from 'vitest';
import { trimHistory } from './reply';
import { MAX_CHARS_PER_TOKEN, PER_MESSAGE_OVERHEAD, PROMPT_OVERHEAD, tokensIn } from './tokens';

const message = (id: string, text: string, role: 'user' | 'assistant' = 'user') => ({
	id,
	role,
	text
});

const cost = (text: string) => tokensIn(text) + PER_MESSAGE_OVERHEAD;

describe('trimHistory', () => {
	const history = [
		message('1', 'one two three four five six seven eight'),
		message('2', 'alpha beta gamma delta', 'assistant'),
		message('3', 'the new question')
	];

	it('keeps everything that fits the budget, and estimates the prompt', async () => {
		const trimmed = await trimHistory(history, 10_000);
		expect(trimmed.messages).toEqual(history);
		const exact = history.reduce((sum, m) => sum + cost(m.text), PROMPT_OVERHEAD);
		expect(trimmed.tokens).toBe(exact);
	});

	it('drops the oldest messages first', async () => {
		const budget = cost(history[1].text) + cost(history[2].text);
		expect((await trimHistory(history, budget)).messages.map((m) => m.id)).toEqual(['2', '3']);
	});

	it('always keeps the new question, even over budget', async () => {
		expect((await trimHistory(history, 1)).messages.map((m) => m.id)).toEqual(['3']);
	});

	it('drops text too long to fit by its length alone, without tokenizing it', async () => {
		const budget = 1_000;
		// Half a million characters of one unbroken run would block the tokenizer for minutes.
		const huge = message('0', 'a'.repeat(500_000), 'assistant');
		const started = performance.now();
		const trimmed = await trimHistory([huge, ...history], budget);
		expect(trimmed.messages.map((m) => m.id)).toEqual(['1', '2', '3']);
		expect(performance.now() - started).toBeLessThan(1_000);
		expect(huge.text.length).toBeGreaterThan(budget * MAX_CHARS_PER_TOKEN);
	});
});
