import type { UIMessageChunk } from 'ai';
import { describe, expect, it } from 'vitest';
import { activeRun, closeRun, emit, runningCount, startRun, subscribe } from './runs';

/** The chunks of an SSE stream, checking that it ends with `[DONE]`. */
async function readAll(stream: ReadableStream<Uint8Array>) {
	const text = await new Response(stream).text();
	const events = text
		.split('\n\n')
		.filter(Boolean)
		.map((event) => event.replace(/^data: /, ''));
	expect(events.pop()).toBe('[DONE]');
	return events.map((event) => JSON.parse(event) as UIMessageChunk);
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
const delta = (text: string): UIMessageChunk => ({ type: 'text-delta', id: 't', delta: text });

describe('the run registry', () => {
	it('replays what was written (deltas merged) to a late listener, then follows live', async () => {
		const run = startRun({ chatId: 'c1', userId: 'u', replyId: 'r1', stop: new AbortController() });
		const feed = { push: (chunk: UIMessageChunk) => emit(run, chunk), end: () => closeRun(run) };
		const first = readAll(subscribe(run));
		feed.push({ type: 'start', messageId: 'r1' });
		feed.push({ type: 'text-start', id: 't' });
		feed.push(delta('Hel'));
		feed.push(delta('lo'));
		await tick();
		const late = readAll(subscribe(run));
		feed.push(delta(' world'));
		feed.push({ type: 'text-end', id: 't' });
		feed.end();
		const lateChunks = await late;
		expect(lateChunks).toEqual([
			{ type: 'start', messageId: 'r1' },
			{ type: 'text-start', id: 't' },
			delta('Hello'),
			delta(' world'),
			{ type: 'text-end', id: 't' }
		]);
		// The first listener got every chunk as it came, unmerged.
		expect((await first).filter((c) => c.type === 'text-delta')).toEqual([
			delta('Hel'),
			delta('lo'),
			delta(' world')
		]);
	});

	it('drops a listener that goes away, goes on without it, and leaves memory when it ends', async () => {
		const run = startRun({ chatId: 'c2', userId: 'u', replyId: 'r2', stop: new AbortController() });
		const feed = { push: (chunk: UIMessageChunk) => emit(run, chunk), end: () => closeRun(run) };
		expect(activeRun('c2')).toBe(run);
		const gone = subscribe(run);
		const reader = gone.getReader();
		feed.push(delta('a'));
		await reader.read();
		await reader.cancel();
		expect(run.subscribers.size).toBe(0);
		feed.push(delta('b'));
		feed.end();
		await tick();
		expect(activeRun('c2')).toBeUndefined();
		expect(runningCount()).toBe(0);
		expect(run.ended).toBe(true);
		// A listener arriving after the end gets the whole reply and an end.
		expect(await readAll(subscribe(run))).toEqual([delta('ab')]);
	});
});
