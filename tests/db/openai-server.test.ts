import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText, type LanguageModel } from 'ai';
import { encode } from 'gpt-tokenizer';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
	DEFAULT_REPLY,
	startOpenAIServer,
	tokenChunks,
	type OpenAIServer
} from '../helpers/openai-server';

// The local OpenAI peer, checked against the real AI SDK. It needs no database: it lives in the
// `db` project only because that project already runs integration suites.

let server: OpenAIServer;
beforeAll(async () => {
	server = await startOpenAIServer();
});
afterAll(() => server.close());
beforeEach(() => server.reset());

const provider = () => createOpenAI({ baseURL: server.url, apiKey: 'test' });

const apis: {
	name: string;
	path: string;
	capField: string;
	model: () => LanguageModel;
}[] = [
	{
		name: 'Chat Completions',
		path: '/v1/chat/completions',
		capField: 'max_tokens',
		model: () => provider().chat('gpt-4o-mini')
	},
	{
		name: 'Responses',
		path: '/v1/responses',
		capField: 'max_output_tokens',
		model: () => provider().responses('gpt-4o-mini')
	}
];

const firstTokens = (text: string, n: number) =>
	tokenChunks(text)
		.slice(0, n)
		.map((c) => c.text)
		.join('');

/** Reads a stream to its end or to the error it throws, keeping what arrived before. */
async function drain(stream: AsyncIterable<string>) {
	const parts: string[] = [];
	try {
		for await (const part of stream) parts.push(part);
		return { parts, error: undefined };
	} catch (error) {
		return { parts, error };
	}
}

async function collect(stream: AsyncIterable<string>) {
	const { parts, error } = await drain(stream);
	if (error) throw error;
	return parts;
}

describe.each(apis)('the OpenAI peer on the $name API', (api) => {
	it('streams the reply token by token and reports the usage it counted', async () => {
		const result = streamText({ model: api.model(), prompt: 'hi', maxRetries: 0 });
		const parts = await collect(result.textStream);
		const usage = await result.usage;

		expect(parts.join('')).toBe(DEFAULT_REPLY);
		expect(parts).toEqual(tokenChunks(DEFAULT_REPLY).map((c) => c.text));
		expect(await result.finishReason).toBe('stop');
		expect(usage.inputTokens).toBe(encode('hi').length);
		expect(usage.outputTokens).toBe(encode(DEFAULT_REPLY).length);

		const [request] = server.requests;
		expect(server.counts).toEqual({ [api.path]: 1 });
		expect(request).toMatchObject({
			method: 'POST',
			path: api.path,
			completed: true,
			aborted: false,
			finishReason: 'stop',
			usage: { prompt: usage.inputTokens, completion: usage.outputTokens }
		});
		expect(request.headers.authorization).toBe('Bearer test');
		expect(request.body).toMatchObject({ model: 'gpt-4o-mini', stream: true });
	});

	it('honours the output cap the request carries', async () => {
		const result = streamText({
			model: api.model(),
			prompt: 'hi',
			maxOutputTokens: 5,
			maxRetries: 0
		});
		const text = await result.text;
		const usage = await result.usage;

		expect(server.requests[0].body[api.capField]).toBe(5);
		expect(text).toBe(firstTokens(DEFAULT_REPLY, 5));
		expect(encode(text).length).toBe(5);
		expect(usage.outputTokens).toBe(5);
		expect(usage.inputTokens).toBe(encode('hi').length);
		expect(await result.finishReason).toBe('length');
		expect(server.requests[0]).toMatchObject({ tokensSent: 5, finishReason: 'length' });
	});

	it('reports an exact usage override whatever it streamed', async () => {
		server.behavior.usage = { prompt: 1500, completion: 700 };
		const result = streamText({ model: api.model(), prompt: 'hi', maxRetries: 0 });
		await result.consumeStream();
		const usage = await result.totalUsage;

		expect(usage.inputTokens).toBe(1500);
		expect(usage.outputTokens).toBe(700);
		expect(usage.totalTokens).toBe(2200);
	});

	it('counts every text part of a conversation as prompt tokens, or reports a fixed count', async () => {
		const system = 'You are terse.';
		const messages = [
			{ role: 'user' as const, content: 'What is a credit?' },
			{ role: 'assistant' as const, content: 'A unit of payment.' },
			{ role: 'user' as const, content: 'And a token?' }
		];
		const expected = [system, ...messages.map((m) => m.content)].reduce(
			(sum, text) => sum + encode(text).length,
			0
		);
		const counted = streamText({ model: api.model(), system, messages, maxRetries: 0 });
		expect((await counted.usage).inputTokens).toBe(expected);

		server.behavior.promptTokens = 42;
		const fixed = streamText({ model: api.model(), system, messages, maxRetries: 0 });
		expect((await fixed.usage).inputTokens).toBe(42);
	});

	it('surfaces an HTTP 500 before any output as an error', async () => {
		server.behavior.failWith = 500;
		const errors: unknown[] = [];
		const result = streamText({
			model: api.model(),
			prompt: 'hi',
			maxRetries: 0,
			onError: ({ error }) => void errors.push(error)
		});
		const { parts } = await drain(result.textStream);

		expect(parts).toEqual([]);
		expect(errors).toHaveLength(1);
		expect(errors[0]).toMatchObject({
			statusCode: 500,
			message: 'The server had an error while processing your request. Sorry about that!'
		});
		expect(server.requests[0]).toMatchObject({ status: 500, tokensSent: 0 });
	});

	it('is retried twice by the SDK on a 500 unless maxRetries says otherwise', async () => {
		// retry-after-ms keeps the SDK from backing off for 2 + 4 seconds.
		server.behavior.failWith = { status: 500, retryAfterMs: 1 };
		const result = streamText({ model: api.model(), prompt: 'hi', onError: () => {} });
		await result.consumeStream();

		expect(server.counts[api.path]).toBe(3);
	});

	it('cuts the connection after failAfterChunks tokens, which breaks the SDK stream', async () => {
		server.behavior.failAfterChunks = 3;
		const calls: string[] = [];
		const result = streamText({
			model: api.model(),
			prompt: 'hi',
			maxRetries: 0,
			onError: () => void calls.push('onError'),
			onStepError: () => void calls.push('onStepError'),
			onEnd: () => void calls.push('onEnd')
		});
		const { parts, error } = await drain(result.textStream);

		expect(parts.join('')).toBe(firstTokens(DEFAULT_REPLY, 3));
		expect(error).toMatchObject({ message: 'Failed to process successful response' });
		// What the app must plan for: a dead connection is neither onError nor onEnd, and no usage.
		expect(calls).toEqual(['onStepError']);
		await expect(result.usage).rejects.toThrow();
		expect(server.requests[0]).toMatchObject({
			failedMidStream: true,
			aborted: false,
			completed: false,
			tokensSent: 3
		});
		expect(server.requests[0].usage).toBeUndefined();
	});

	it('cuts after the whole text but before the usage when failAfterChunks is that long', async () => {
		server.behavior.failAfterChunks = 10_000;
		const result = streamText({ model: api.model(), prompt: 'hi', maxRetries: 0 });
		const { parts, error } = await drain(result.textStream);

		expect(parts.join('')).toBe(DEFAULT_REPLY);
		expect(error).toBeDefined();
		expect(server.requests[0]).toMatchObject({ failedMidStream: true, completed: false });
		expect(server.requests[0].usage).toBeUndefined();
	});

	it('reports an error inside the stream after errorAfterChunks tokens', async () => {
		server.behavior.errorAfterChunks = 3;
		const errors: unknown[] = [];
		let ended: { finishReason: string; inputTokens?: number; outputTokens?: number } | undefined;
		const result = streamText({
			model: api.model(),
			prompt: 'hi',
			maxRetries: 0,
			onError: ({ error }) => void errors.push(error),
			onEnd: ({ finishReason, totalUsage }) => {
				ended = { finishReason, ...totalUsage };
			}
		});
		const text = await result.text;

		expect(text).toBe(firstTokens(DEFAULT_REPLY, 3));
		expect(errors).toHaveLength(1);
		expect(errors[0]).toMatchObject({
			message: 'The server had an error while processing your request. Sorry about that!'
		});
		expect(ended?.finishReason).toBe('error');
		expect(server.requests[0]).toMatchObject({ erroredMidStream: true, tokensSent: 3 });
		// Responses carries the usage so far in `response.failed`; Chat Completions carries none.
		if (api.path === '/v1/responses') {
			expect(ended).toMatchObject({ inputTokens: encode('hi').length, outputTokens: 3 });
		} else {
			expect(ended).toMatchObject({ inputTokens: undefined, outputTokens: undefined });
		}
	});

	it('sends no usage when told to', async () => {
		server.behavior.omitUsage = true;
		const result = streamText({ model: api.model(), prompt: 'hi', maxRetries: 0 });
		expect(await result.text).toBe(DEFAULT_REPLY);
		const usage = await result.usage;

		expect(usage.inputTokens).toBeUndefined();
		expect(usage.outputTokens).toBeUndefined();
		expect(server.requests[0].usage).toBeUndefined();
	});

	it('notices a client abort and stops writing', async () => {
		server.behavior.delayMs = 50;
		const controller = new AbortController();
		let aborted = false;
		const result = streamText({
			model: api.model(),
			prompt: 'hi',
			maxRetries: 0,
			abortSignal: controller.signal,
			onAbort: () => void (aborted = true)
		});
		const received: string[] = [];
		for await (const part of result.textStream) {
			received.push(part);
			if (received.length === 3) controller.abort();
		}
		await server.idle();
		const [request] = server.requests;
		const sentAtAbort = request.tokensSent;
		await new Promise((resolve) => setTimeout(resolve, 100));

		expect(aborted).toBe(true);
		expect(request).toMatchObject({ aborted: true, completed: false, failedMidStream: false });
		expect(request.usage).toBeUndefined();
		expect(request.tokensSent).toBeGreaterThanOrEqual(3);
		expect(request.tokensSent).toBeLessThan(encode(DEFAULT_REPLY).length);
		// Nothing more was produced once the client had gone.
		expect(request.tokensSent).toBe(sentAtAbort);
	});

	it('answers the non-streaming form too', async () => {
		const result = await generateText({
			model: api.model(),
			prompt: 'hi',
			maxOutputTokens: 7,
			maxRetries: 0
		});

		expect(result.text).toBe(firstTokens(DEFAULT_REPLY, 7));
		expect(result.finishReason).toBe('length');
		expect(result.usage.inputTokens).toBe(encode('hi').length);
		expect(result.usage.outputTokens).toBe(7);
		expect(server.requests[0].body.stream).toBeUndefined();
	});

	it('keeps a multi-token character whole and still counts each token', async () => {
		const reply = 'Prices: 𝔘𝔫𝔦 🧑‍🤝‍🧑 龘靐齉 — done.';
		server.behavior.reply = reply;
		const result = streamText({ model: api.model(), prompt: 'hi', maxRetries: 0 });
		const parts = await collect(result.textStream);

		expect(parts.join('')).toBe(reply);
		expect(parts.every((part) => !part.includes('\uFFFD'))).toBe(true);
		expect((await result.usage).outputTokens).toBe(encode(reply).length);
	});
});

/** Reads a raw SSE body into its frames (the text between blank lines). */
async function frames(response: Response) {
	const body = await response.text();
	expect(body.endsWith('\n\n')).toBe(true);
	return body.slice(0, -2).split('\n\n');
}

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
	fetch(`${server.url}${path}`, {
		method: 'POST',
		headers: { 'content-type': 'application/json', ...headers },
		body: JSON.stringify(body)
	});

describe('the OpenAI peer on the wire', () => {
	it('frames Chat Completions as OpenAI does: data lines, finish chunk, usage chunk, [DONE]', async () => {
		server.behavior.reply = 'One two three';
		const response = await post('/chat/completions', {
			model: 'gpt-4o-mini',
			messages: [{ role: 'user', content: 'hi' }],
			stream: true,
			stream_options: { include_usage: true }
		});
		expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
		const all = await frames(response);

		expect(all.every((frame) => frame.startsWith('data: ') && !frame.includes('\n'))).toBe(true);
		expect(all.at(-1)).toBe('data: [DONE]');
		const chunks = all.slice(0, -1).map((frame) => JSON.parse(frame.slice(6)));
		expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id)).toBe(
			true
		);
		expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '', refusal: null });
		expect(chunks.slice(1, 4).map((c) => c.choices[0].delta.content)).toEqual([
			'One',
			' two',
			' three'
		]);
		expect(chunks[4].choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
		expect(chunks.slice(0, 5).every((c) => c.usage === null)).toBe(true);
		expect(chunks[5]).toMatchObject({
			choices: [],
			usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 }
		});
		expect(chunks).toHaveLength(6);
	});

	it('sends no usage chunk on Chat Completions unless include_usage asks for it', async () => {
		server.behavior.reply = 'One two';
		const response = await post('/chat/completions', {
			model: 'gpt-4o-mini',
			messages: [{ role: 'user', content: 'hi' }],
			stream: true,
			max_completion_tokens: 1
		});
		const chunks = (await frames(response)).slice(0, -1).map((f) => JSON.parse(f.slice(6)));

		expect(chunks.map((c) => c.choices[0]?.finish_reason ?? null)).toEqual([null, null, 'length']);
		expect(chunks.every((c) => !('usage' in c))).toBe(true);
	});

	it('frames Responses as named events with type and a rising sequence_number', async () => {
		server.behavior.reply = 'One two three';
		const response = await post('/responses', {
			model: 'gpt-4o-mini',
			input: [{ role: 'user', content: [{ type: 'input_text', text: 'hi' }] }],
			stream: true,
			max_output_tokens: 2
		});
		const events = (await frames(response)).map((frame) => {
			const [eventLine, dataLine, ...rest] = frame.split('\n');
			expect(rest).toEqual([]);
			expect(eventLine.startsWith('event: ') && dataLine.startsWith('data: ')).toBe(true);
			const data = JSON.parse(dataLine.slice(6));
			expect(data.type).toBe(eventLine.slice(7));
			return data;
		});

		expect(events.map((e) => e.type)).toEqual([
			'response.created',
			'response.in_progress',
			'response.output_item.added',
			'response.content_part.added',
			'response.output_text.delta',
			'response.output_text.delta',
			'response.output_text.done',
			'response.content_part.done',
			'response.output_item.done',
			'response.incomplete'
		]);
		expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
		const itemId = events[2].item.id;
		expect(events[4]).toMatchObject({
			item_id: itemId,
			output_index: 0,
			content_index: 0,
			delta: 'One'
		});
		expect(events[6]).toMatchObject({ item_id: itemId, text: 'One two' });
		expect(events.at(-1).response).toMatchObject({
			status: 'incomplete',
			incomplete_details: { reason: 'max_output_tokens' },
			usage: {
				input_tokens: 1,
				output_tokens: 2,
				total_tokens: 3,
				input_tokens_details: { cached_tokens: 0 },
				output_tokens_details: { reasoning_tokens: 0 }
			}
		});
	});

	it('ends an uncapped Responses stream with response.completed', async () => {
		server.behavior.reply = 'Done';
		const response = await post('/responses', { model: 'gpt-4o-mini', input: 'hi', stream: true });
		const last = JSON.parse((await frames(response)).at(-1)!.split('\n')[1].slice(6));

		expect(last).toMatchObject({
			type: 'response.completed',
			response: { status: 'completed', incomplete_details: null, output: [{ type: 'message' }] }
		});
	});

	it('answers errors with OpenAI-style JSON bodies', async () => {
		server.behavior.failWith = { status: 429, message: 'Slow down' };
		const limited = await post('/chat/completions', { model: 'm', messages: [] });
		expect(limited.status).toBe(429);
		expect(await limited.json()).toEqual({
			error: { message: 'Slow down', type: 'requests', param: null, code: 'rate_limit_exceeded' }
		});

		const unknown = await post('/embeddings', { model: 'm', input: 'x' });
		expect(unknown.status).toBe(404);
		expect((await unknown.json()).error.message).toBe('Invalid URL (POST /v1/embeddings)');

		server.reset();
		server.behavior.apiKey = 'sk-right';
		const wrongKey = await post('/chat/completions', { model: 'm', messages: [] });
		expect(wrongKey.status).toBe(401);
		expect((await wrongKey.json()).error.code).toBe('invalid_api_key');

		const badJson = await fetch(`${server.url}/responses`, {
			method: 'POST',
			headers: { authorization: 'Bearer sk-right' },
			body: '{oops'
		});
		expect(badJson.status).toBe(400);
	});

	it('can reject Responses caps below 16 tokens, as api.openai.com does', async () => {
		server.behavior.enforceResponsesMinimumOutputTokens = true;
		const errors: unknown[] = [];
		const result = streamText({
			model: provider().responses('gpt-4o-mini'),
			prompt: 'hi',
			maxOutputTokens: 5,
			maxRetries: 0,
			onError: ({ error }) => void errors.push(error)
		});
		await result.consumeStream();

		expect(server.requests[0].status).toBe(400);
		expect(errors).toHaveLength(1);
		expect(errors[0]).toMatchObject({
			statusCode: 400,
			message: expect.stringContaining("'max_output_tokens'")
		});
	});

	it('waits firstChunkDelayMs before the first token and delayMs between tokens', async () => {
		server.behavior.reply = 'a b c d e';
		server.behavior.firstChunkDelayMs = 120;
		server.behavior.delayMs = 40;
		const started = Date.now();
		const result = streamText({ model: provider().chat('gpt-4o-mini'), prompt: 'hi' });
		const arrivals: number[] = [];
		for await (const part of result.textStream) if (part) arrivals.push(Date.now() - started);

		expect(arrivals).toHaveLength(5);
		expect(arrivals[0]).toBeGreaterThanOrEqual(110);
		// Lower bounds only: a busy client may read late, but it can never read early.
		expect(arrivals[4]).toBeGreaterThanOrEqual(120 + 4 * 40 - 10);
	});

	it('records what each request asked and keeps counts per path until reset', async () => {
		await generateText({ model: provider().chat('gpt-4o-mini'), prompt: 'x', maxRetries: 0 });
		await generateText({ model: provider().chat('gpt-4o-mini'), prompt: 'y', maxRetries: 0 });
		await generateText({ model: provider().responses('gpt-4o'), prompt: 'z', maxRetries: 0 });

		expect(server.counts).toEqual({ '/v1/chat/completions': 2, '/v1/responses': 1 });
		expect(server.requests.map((r) => r.body.model)).toEqual([
			'gpt-4o-mini',
			'gpt-4o-mini',
			'gpt-4o'
		]);
		expect(server.requests.every((r) => r.receivedAt <= Date.now())).toBe(true);
		server.behavior.delayMs = 5;
		server.reset();
		expect(server.requests).toEqual([]);
		expect(server.counts).toEqual({});
		expect(server.behavior.delayMs).toBe(0);
	});
});
