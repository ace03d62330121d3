import { streamText } from 'ai';
import { describe, expect, it } from 'vitest';
import { createDemoModel, demoReply } from './demo-model';
import { tokensIn } from './tokens';

describe('the demo model', () => {
	const model = createDemoModel({ delayMs: 0 });

	it('streams a deterministic reply and reports real token counts', async () => {
		const run = () => streamText({ model, prompt: 'How much does this cost?' });
		const first = run();
		const chunks: string[] = [];
		for await (const delta of first.textStream) chunks.push(delta);
		const text = chunks.join('');
		expect(chunks.length).toBeGreaterThan(50);
		expect(text).toBe(demoReply('How much does this cost?', tokensIn('How much does this cost?')));
		const usage = await first.usage;
		expect(usage.outputTokens).toBe(tokensIn(text));
		expect(usage.inputTokens).toBe(tokensIn('How much does this cost?'));
		expect(await run().text).toBe(text);
	});

	it('streams non-ASCII text intact', async () => {
		const question = 'Wie viel kostet 这个回答? 🙂';
		const result = streamText({ model, prompt: question });
		const reply = demoReply(question, tokensIn(question));
		expect(await result.text).toBe(reply);
		expect((await result.usage).outputTokens).toBe(tokensIn(reply));
	});

	it('stops at the output cap and says so', async () => {
		const result = streamText({ model, prompt: 'hi', maxOutputTokens: 7 });
		expect((await result.usage).outputTokens).toBe(7);
		expect(await result.finishReason).toBe('length');
	});

	it('stops when aborted', async () => {
		const slow = createDemoModel({ delayMs: 20 });
		const controller = new AbortController();
		let aborted = false;
		const result = streamText({
			model: slow,
			prompt: 'hi',
			abortSignal: controller.signal,
			onAbort: () => {
				aborted = true;
			}
		});
		const received: string[] = [];
		for await (const delta of result.textStream) {
			received.push(delta);
			if (received.length === 3) controller.abort();
		}
		expect(aborted).toBe(true);
		expect(received.length).toBeLessThan(10);
	});
});
