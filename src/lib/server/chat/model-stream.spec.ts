import type { LanguageModelV4StreamPart } from '@ai-sdk/provider';
import { MockLanguageModelV4, convertArrayToReadableStream, simulateReadableStream } from 'ai/test';
import { describe, expect, it } from 'vitest';
import { promptOf, startHeldModelCall, streamModel, type ModelEnd } from './model-stream';

const prompt = promptOf([{ id: 'm1', role: 'user', text: 'How much does this cost?' }]);

const delta = (text: string): LanguageModelV4StreamPart => ({
	type: 'text-delta',
	id: 't1',
	delta: text
});

const finish = (
	inputTokens: number,
	outputTokens: number,
	reason: 'stop' | 'length' | 'error' = 'stop'
): LanguageModelV4StreamPart => ({
	type: 'finish',
	usage: {
		inputTokens: { total: inputTokens, noCache: inputTokens, cacheRead: 0, cacheWrite: 0 },
		outputTokens: { total: outputTokens, text: outputTokens, reasoning: 0 }
	},
	finishReason: { unified: reason, raw: reason }
});

const streaming = (stream: ReadableStream<LanguageModelV4StreamPart>) => async () => ({ stream });

/** Runs streamModel and collects the deltas it hands out. */
function run(model: MockLanguageModelV4, abortSignal = new AbortController().signal) {
	const texts: string[] = [];
	const done = streamModel(model, { prompt, maxOutputTokens: 50, abortSignal }, (text) => {
		texts.push(text);
	});
	return { texts, done };
}

/** Settles with the outcome, or with 'still running' when streamModel does not finish in time. */
function within(done: Promise<ModelEnd>, ms = 1_000): Promise<ModelEnd | 'still running'> {
	let timer: ReturnType<typeof setTimeout> | undefined;
	const late = new Promise<'still running'>((resolve) => {
		timer = setTimeout(() => resolve('still running'), ms);
	});
	return Promise.race([done, late]).finally(() => clearTimeout(timer));
}

/**
 * A provider that ignores the abort signal: it streams `first`, then either never sends another
 * part (`then: 'hang'`) or keeps sending deltas forever (`then: 'keep going'`). Records whether and
 * why its stream was cancelled.
 */
function deafProvider(first: string[], then: 'hang' | 'keep going') {
	const state = { cancelled: false, reason: undefined as unknown };
	let index = 0;
	const stream = new ReadableStream<LanguageModelV4StreamPart>({
		async pull(controller) {
			if (index < first.length) {
				controller.enqueue(delta(first[index++]));
				return;
			}
			if (then === 'hang') return new Promise<void>(() => {});
			await new Promise((resolve) => setTimeout(resolve, 1));
			controller.enqueue(delta('.'));
		},
		cancel(reason) {
			state.cancelled = true;
			state.reason = reason;
		}
	});
	return { state, stream };
}

describe('streamModel', () => {
	it('hands over the text deltas in order and reports usage and finish reason', async () => {
		const model = new MockLanguageModelV4({
			doStream: streaming(
				simulateReadableStream<LanguageModelV4StreamPart>({
					chunks: [
						{ type: 'stream-start', warnings: [] },
						{ type: 'response-metadata', id: 'resp-1', modelId: 'mock' },
						{ type: 'reasoning-start', id: 'r1' },
						{ type: 'reasoning-delta', id: 'r1', delta: 'thinking about it' },
						{ type: 'reasoning-end', id: 'r1' },
						{ type: 'text-start', id: 't1' },
						delta('It costs'),
						delta(' 3'),
						delta(' credits.'),
						{ type: 'text-end', id: 't1' },
						finish(12, 7, 'length')
					],
					chunkDelayInMs: 1
				})
			)
		});
		const signal = new AbortController().signal;
		const { texts, done } = run(model, signal);

		expect(await done).toEqual({
			aborted: false,
			inputTokens: 12,
			outputTokens: 7,
			finishReason: 'length'
		});
		expect(texts).toEqual(['It costs', ' 3', ' credits.']);
		expect(model.doStreamCalls).toHaveLength(1);
		expect(model.doStreamCalls[0]).toMatchObject({ prompt, maxOutputTokens: 50 });
		expect(model.doStreamCalls[0].abortSignal).toBe(signal);
	});

	it('reports an error part as an error outcome, keeping the text before it', async () => {
		const upstream = new Error('upstream overloaded');
		const model = new MockLanguageModelV4({
			doStream: streaming(
				convertArrayToReadableStream<LanguageModelV4StreamPart>([
					{ type: 'text-start', id: 't1' },
					delta('Half a'),
					{ type: 'error', error: upstream },
					finish(5, 2, 'error')
				])
			)
		});
		const { texts, done } = run(model);

		const end = await done;
		expect(end.error).toBe(upstream);
		expect(end.aborted).toBe(false);
		expect(end.finishReason).toBe('error');
		expect(texts).toEqual(['Half a']);
	});

	it('reports a stream that breaks, or a doStream that throws, as an error outcome', async () => {
		const broken = new Error('connection reset');
		let index = 0;
		const breaking = new MockLanguageModelV4({
			doStream: streaming(
				new ReadableStream<LanguageModelV4StreamPart>({
					pull(controller) {
						if (index++ === 0) controller.enqueue(delta('Hel'));
						else controller.error(broken);
					}
				})
			)
		});
		const first = run(breaking);
		expect(await first.done).toEqual({ aborted: false, error: broken });
		expect(first.texts).toEqual(['Hel']);

		const refused = new Error('401 Unauthorized');
		const throwing = new MockLanguageModelV4({
			doStream: async () => {
				throw refused;
			}
		});
		const second = run(throwing);
		expect(await second.done).toEqual({ aborted: false, error: refused });
		expect(second.texts).toEqual([]);
	});

	it('ends as aborted with the text so far when the caller aborts mid-stream', async () => {
		const controller = new AbortController();
		// A provider that honours the signal the way fetch does: its body errors with the reason.
		const model = new MockLanguageModelV4({
			doStream: async ({ abortSignal }) => {
				let index = 0;
				return {
					stream: new ReadableStream<LanguageModelV4StreamPart>({
						start(stream) {
							abortSignal?.addEventListener('abort', () => stream.error(abortSignal.reason));
						},
						async pull(stream) {
							await new Promise((resolve) => setTimeout(resolve, 1));
							if (index === 100) return stream.enqueue(finish(10, 100));
							stream.enqueue(delta(`w${index++} `));
						}
					})
				};
			}
		});
		const texts: string[] = [];
		const end = await streamModel(
			model,
			{ prompt, maxOutputTokens: 50, abortSignal: controller.signal },
			(text) => {
				texts.push(text);
				if (texts.length === 3) controller.abort('stop pressed');
			}
		);

		expect(end).toEqual({ aborted: true });
		expect(texts).toEqual(['w0 ', 'w1 ', 'w2 ']);
	});

	it('cancels the stream of a provider that ignores the abort signal and never ends', async () => {
		const controller = new AbortController();
		const deaf = deafProvider(['Once', ' upon'], 'hang');
		const model = new MockLanguageModelV4({ doStream: streaming(deaf.stream) });
		const { texts, done } = run(model, controller.signal);

		await new Promise((resolve) => setTimeout(resolve, 20));
		expect(texts).toEqual(['Once', ' upon']);
		expect(deaf.state.cancelled).toBe(false);
		controller.abort('stop pressed');

		expect(await within(done)).toEqual({ aborted: true });
		expect(deaf.state.cancelled).toBe(true);
		expect(deaf.state.reason).toBe('stop pressed');
		expect(texts).toEqual(['Once', ' upon']);
	});

	it('cancels the stream of a provider that ignores the abort signal and keeps streaming', async () => {
		const controller = new AbortController();
		const deaf = deafProvider(['a', 'b'], 'keep going');
		const model = new MockLanguageModelV4({ doStream: streaming(deaf.stream) });
		const { texts, done } = run(model, controller.signal);

		while (texts.length < 5) await new Promise((resolve) => setTimeout(resolve, 1));
		controller.abort('shutdown');

		expect(await within(done)).toEqual({ aborted: true });
		expect(deaf.state.cancelled).toBe(true);
		expect(deaf.state.reason).toBe('shutdown');
		const handedOver = texts.length;
		await new Promise((resolve) => setTimeout(resolve, 20));
		expect(texts).toHaveLength(handedOver);
	});

	it('cancels a deaf provider when the caller aborted while doStream was still pending', async () => {
		const controller = new AbortController();
		const deaf = deafProvider(['late'], 'hang');
		const model = new MockLanguageModelV4({
			doStream: async () => {
				// Connecting takes a while and the provider never looks at the signal.
				await new Promise((resolve) => setTimeout(resolve, 20));
				return { stream: deaf.stream };
			}
		});
		const { texts, done } = run(model, controller.signal);
		await new Promise((resolve) => setTimeout(resolve, 5));
		controller.abort('stop pressed');

		expect(await within(done)).toEqual({ aborted: true });
		expect(deaf.state.cancelled).toBe(true);
		expect(deaf.state.reason).toBe('stop pressed');
		expect(texts).toEqual([]);
	});

	it('reports a reply that finished before the abort as finished, not aborted', async () => {
		const controller = new AbortController();
		// The finish part arrives, then the stream stays open until the abort cancels it.
		const parts = [delta('Done.'), finish(4, 2)];
		const model = new MockLanguageModelV4({
			doStream: streaming(
				new ReadableStream<LanguageModelV4StreamPart>({
					pull(stream) {
						const part = parts.shift();
						if (part) stream.enqueue(part);
						else return new Promise<void>(() => {});
					}
				})
			)
		});
		const { texts, done } = run(model, controller.signal);
		await new Promise((resolve) => setTimeout(resolve, 20));
		controller.abort('tab closed');

		expect(await within(done)).toEqual({
			aborted: false,
			inputTokens: 4,
			outputTokens: 2,
			finishReason: 'stop'
		});
		expect(texts).toEqual(['Done.']);
	});
});

describe('startHeldModelCall', () => {
	const call = (abortSignal = new AbortController().signal) => ({
		prompt,
		maxOutputTokens: 50,
		abortSignal
	});

	it('calls the model at once, holds its output back, then hands it over in order', async () => {
		const model = new MockLanguageModelV4({
			doStream: streaming(
				convertArrayToReadableStream([delta('Five '), delta('credits'), finish(3, 2)])
			)
		});
		const held = startHeldModelCall(model, call());
		expect(model.doStreamCalls).toHaveLength(1);
		// The whole reply arrives before anyone adopts it: nothing is handed out meanwhile.
		await new Promise((resolve) => setTimeout(resolve, 20));
		const texts: string[] = [];
		const end = await within(held.adopt((text) => texts.push(text)));
		expect(texts).toEqual(['Five ', 'credits']);
		expect(end).toEqual({ aborted: false, inputTokens: 3, outputTokens: 2, finishReason: 'stop' });
	});

	it('hands over what arrived before adopt and what arrives after, once each', async () => {
		const model = new MockLanguageModelV4({
			doStream: streaming(
				simulateReadableStream({
					chunks: [delta('a'), delta('b'), delta('c'), delta('d'), finish(1, 4)],
					chunkDelayInMs: 15
				})
			)
		});
		const held = startHeldModelCall(model, call());
		await new Promise((resolve) => setTimeout(resolve, 35));
		const texts: string[] = [];
		await within(held.adopt((text) => texts.push(text)));
		expect(texts.join('')).toBe('abcd');
	});

	it("stops the provider on cancel, and on the caller's signal", async () => {
		for (const stop of ['cancel', 'signal'] as const) {
			const provider = deafProvider(['Never ', 'shown'], 'hang');
			const model = new MockLanguageModelV4({ doStream: streaming(provider.stream) });
			const controller = new AbortController();
			const held = startHeldModelCall(model, call(controller.signal));
			await new Promise((resolve) => setTimeout(resolve, 20));
			if (stop === 'cancel') held.cancel('refused');
			else controller.abort('stopped');
			const texts: string[] = [];
			expect(await within(held.adopt((text) => texts.push(text)))).toEqual({ aborted: true });
			expect(provider.state.cancelled).toBe(true);
			// The caller's own signal is not touched by a cancel.
			expect(controller.signal.aborted).toBe(stop === 'signal');
		}
	});
});
