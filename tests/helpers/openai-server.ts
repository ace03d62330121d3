import {
	createServer,
	type IncomingHttpHeaders,
	type IncomingMessage,
	type ServerResponse
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { encode } from 'gpt-tokenizer';
import { capPieces, tokenPieces } from '../../src/lib/server/chat/tokens';

/**
 * A local stand-in for api.openai.com: the two streaming text endpoints the app uses, spoken over
 * real HTTP and real Server-Sent Events, with token counts a test can predict exactly.
 *
 * The wire shapes follow what OpenAI sends and what @ai-sdk/openai 4.0.x parses (its zod schemas
 * for `chat.completion.chunk` and the Responses stream events), so the real SDK runs against it
 * unmodified.
 */

/** 55 plain-ASCII tokens (o200k_base), so the default reply splits the same way everywhere. */
export const DEFAULT_REPLY =
	'Credits are a simple idea: every reply costs a little, measured in tokens, and you only pay ' +
	'for what the model actually writes. This answer comes from the local test server, which ' +
	'streams one token at a time so that counting stays exact and every test can predict it.';

export interface OpenAIFailure {
	status: number;
	message?: string;
	type?: string;
	code?: string | null;
	/** Sent as `retry-after-ms`, which OpenAI uses and the AI SDK's retry honours (under 60 s). */
	retryAfterMs?: number;
}

export interface OpenAIBehavior {
	/** The assistant's answer; streamed one token per chunk and cut at the request's token cap. */
	reply: string;
	/** Reported prompt tokens instead of counting the request's text. */
	promptTokens?: number;
	/** Reported usage, exactly, whatever was streamed (each side falls back to the real count). */
	usage?: { prompt?: number; completion?: number };
	/** Pause before each token after the first. */
	delayMs: number;
	/** Pause before the first token (headers are already out, as with the real API). */
	firstChunkDelayMs: number;
	/** Answer with this HTTP status and an OpenAI-style JSON error before streaming anything. */
	failWith?: number | OpenAIFailure;
	/**
	 * Stream this many tokens, then destroy the connection (an upstream failure mid-stream). At or
	 * beyond the reply's length it cuts after the text but before the finish and usage events.
	 */
	failAfterChunks?: number;
	/**
	 * Stream this many tokens, then report an error inside the stream and end it, as OpenAI does
	 * when generation fails after it started: a `{ error }` data line on Chat Completions, a
	 * `response.failed` event (with the usage so far, unless `omitUsage`) on Responses.
	 */
	errorAfterChunks?: number;
	/** Send no usage at all (no usage chunk on Chat Completions, `usage: null` on Responses). */
	omitUsage: boolean;
	/** When set, requests must carry `Authorization: Bearer <apiKey>` or get OpenAI's 401. */
	apiKey?: string;
	/**
	 * Reject `max_output_tokens` below 16 on the Responses API, as api.openai.com does. Off by
	 * default so that small caps can be exercised on both APIs; turn it on to test what production
	 * would say.
	 */
	enforceResponsesMinimumOutputTokens: boolean;
}

export interface RecordedOpenAIRequest {
	method: string;
	/** Path without the query string, e.g. `/v1/chat/completions`. */
	path: string;
	headers: IncomingHttpHeaders;
	/** The parsed JSON body (`{}` when there was none or it was not a JSON object). */
	body: Record<string, unknown>;
	/** `Date.now()` when the request arrived. */
	receivedAt: number;
	/** HTTP status answered (0 while the head is not written yet). */
	status: number;
	/** Prompt tokens counted from the request's text (before any override). */
	promptTokens: number;
	/** Content chunks written (one per token, except where a character spans tokens). */
	chunksSent: number;
	/** Output tokens written to the wire. */
	tokensSent: number;
	finishReason?: 'stop' | 'length';
	/** What the server reported as usage; undefined when it reported none. */
	usage?: { prompt: number; completion: number };
	/** The client closed the connection before the answer was complete. */
	aborted: boolean;
	/** The server cut the connection on purpose (`failAfterChunks`). */
	failedMidStream: boolean;
	/** The server reported an error inside the stream (`errorAfterChunks`). */
	erroredMidStream: boolean;
	/** The full answer was written. */
	completed: boolean;
}

export interface OpenAIServer {
	/** Base URL ending in `/v1`, as `createOpenAI({ baseURL })` expects. */
	url: string;
	requests: RecordedOpenAIRequest[];
	/** Requests received per path. */
	counts: Record<string, number>;
	/** Settings for requests that arrive from now on; mutate freely. */
	behavior: OpenAIBehavior;
	/** Resolves once every request received so far has been fully handled. */
	idle(): Promise<void>;
	/** Forgets recorded requests and counts and restores the behaviour given at start. */
	reset(): void;
	close(): Promise<void>;
}

const defaults: OpenAIBehavior = {
	reply: DEFAULT_REPLY,
	delayMs: 0,
	firstChunkDelayMs: 0,
	omitUsage: false,
	enforceResponsesMinimumOutputTokens: false
};

export async function startOpenAIServer(
	options: Partial<OpenAIBehavior> = {}
): Promise<OpenAIServer> {
	const initial = { ...defaults, ...options };
	const behavior: OpenAIBehavior = { ...initial };
	const requests: RecordedOpenAIRequest[] = [];
	const counts: Record<string, number> = {};
	const inFlight = new Set<Promise<void>>();
	let nextId = 1;

	const server = createServer((req, res) => {
		const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
		const entry: RecordedOpenAIRequest = {
			method: req.method ?? 'GET',
			path,
			headers: req.headers,
			body: {},
			receivedAt: Date.now(),
			status: 0,
			promptTokens: 0,
			chunksSent: 0,
			tokensSent: 0,
			aborted: false,
			failedMidStream: false,
			erroredMidStream: false,
			completed: false
		};
		requests.push(entry);
		counts[path] = (counts[path] ?? 0) + 1;
		// A snapshot, so that a test changing `behavior` mid-stream cannot bend a running answer.
		const context = new Exchange(req, res, entry, { ...behavior }, nextId++);
		const done = context.run().finally(() => inFlight.delete(done));
		inFlight.add(done);
	});

	await new Promise<void>((resolve, reject) => {
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => resolve());
	});
	const { port } = server.address() as AddressInfo;

	return {
		url: `http://127.0.0.1:${port}/v1`,
		requests,
		counts,
		behavior,
		async idle() {
			while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
		},
		reset() {
			requests.length = 0;
			for (const key of Object.keys(counts)) delete counts[key];
			// In place, because tests hold on to `server.behavior`.
			for (const key of Object.keys(behavior) as (keyof OpenAIBehavior)[]) {
				delete (behavior as Partial<OpenAIBehavior>)[key];
			}
			Object.assign(behavior, initial);
		},
		async close() {
			server.closeAllConnections();
			await new Promise<void>((resolve) => server.close(() => resolve()));
			await Promise.allSettled([...inFlight]);
		}
	};
}

/** One text piece of the reply and the number of tokens it costs. */
export interface TokenChunk {
	text: string;
	tokens: number;
}

const chunkCache = new Map<string, TokenChunk[]>();

/**
 * Splits text into one chunk per token. A character spread over several tokens (rare emoji, some
 * CJK) cannot be sent as a fraction of itself, so it rides with the token that completes it; the
 * chunks always concatenate to the text and their `tokens` always sum to `encode(text).length`.
 */
export function tokenChunks(text: string): TokenChunk[] {
	const cached = chunkCache.get(text);
	if (cached) return cached;
	const chunks = tokenPieces(text);
	if (chunks.map((c) => c.text).join('') !== text) {
		throw new Error(`gpt-tokenizer did not round-trip the reply ${JSON.stringify(text)}`);
	}
	chunkCache.set(text, chunks);
	return chunks;
}

/**
 * Prompt tokens as this server counts them: `encode(text).length` summed over every text piece of
 * the request (system/instructions included). Real OpenAI adds a few tokens of framing per message;
 * leaving them out keeps the number a test can compute from its own prompt.
 */
export function countPromptTokens(body: Record<string, unknown>): number {
	const texts: string[] = [];
	if (typeof body.instructions === 'string') texts.push(body.instructions);
	collectText(body.messages, texts);
	collectText(body.input, texts);
	return texts.reduce((sum, text) => sum + encode(text).length, 0);
}

function collectText(value: unknown, into: string[]): void {
	if (typeof value === 'string') into.push(value);
	else if (Array.isArray(value)) for (const item of value) collectText(item, into);
	else if (isObject(value)) {
		if (typeof value.text === 'string') into.push(value.text);
		if (value.content !== undefined) collectText(value.content, into);
	}
}

/** The reply as it will be sent under a token cap. */
function planReply(reply: string, cap: number | undefined) {
	const { pieces, cut } = capPieces(tokenChunks(reply), cap);
	const finishReason: 'stop' | 'length' = cut ? 'length' : 'stop';
	return { chunks: pieces, finishReason };
}

function isObject(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function integer(value: unknown): number | undefined {
	return typeof value === 'number' && Number.isInteger(value) ? value : undefined;
}

function errorBody(status: number, message?: string, type?: string, code?: string | null) {
	const known: Record<number, { message: string; type: string; code: string | null }> = {
		400: { message: 'Bad request.', type: 'invalid_request_error', code: null },
		401: {
			message: 'Incorrect API key provided.',
			type: 'invalid_request_error',
			code: 'invalid_api_key'
		},
		404: { message: 'Not found.', type: 'invalid_request_error', code: null },
		429: {
			message: 'Rate limit reached for requests.',
			type: 'requests',
			code: 'rate_limit_exceeded'
		},
		500: {
			message: 'The server had an error while processing your request. Sorry about that!',
			type: 'server_error',
			code: null
		},
		503: {
			message: 'The engine is currently overloaded, please try again later.',
			type: 'server_error',
			code: null
		}
	};
	const base = known[status] ?? { message: `HTTP ${status}`, type: 'server_error', code: null };
	return {
		error: {
			message: message ?? base.message,
			type: type ?? base.type,
			param: null,
			code: code === undefined ? base.code : code
		}
	};
}

/** One request and its answer. */
class Exchange {
	/** Aborted when the connection closes, for whatever reason; it ends every pause at once. */
	private readonly gone = new AbortController();
	private readonly whenGone = new Promise<void>((resolve) =>
		this.gone.signal.addEventListener('abort', () => resolve(), { once: true })
	);
	private readonly created = Math.floor(Date.now() / 1000);
	/** Settles once everything written so far has left for the client (or failed to). */
	private flushed: Promise<void> = Promise.resolve();

	private readonly req: IncomingMessage;
	private readonly res: ServerResponse;
	private readonly entry: RecordedOpenAIRequest;
	private readonly behavior: OpenAIBehavior;
	private readonly id: number;

	constructor(
		req: IncomingMessage,
		res: ServerResponse,
		entry: RecordedOpenAIRequest,
		behavior: OpenAIBehavior,
		id: number
	) {
		this.req = req;
		this.res = res;
		this.entry = entry;
		this.behavior = behavior;
		this.id = id;
		res.on('close', () => {
			if (!res.writableFinished && !entry.failedMidStream) entry.aborted = true;
			this.gone.abort();
		});
	}

	async run(): Promise<void> {
		try {
			await this.handle();
		} catch (error) {
			if (!this.res.headersSent) {
				this.json(500, errorBody(500, error instanceof Error ? error.message : String(error)));
			} else this.res.destroy();
		}
	}

	private async handle() {
		const { req, entry, behavior } = this;
		const raw = await readBody(req);
		if (this.closed) return;

		const route = `${req.method} ${entry.path}`;
		if (route !== 'POST /v1/chat/completions' && route !== 'POST /v1/responses') {
			return this.fail(404, `Invalid URL (${req.method} ${entry.path})`);
		}
		if (
			behavior.apiKey !== undefined &&
			req.headers.authorization !== `Bearer ${behavior.apiKey}`
		) {
			return this.fail(401);
		}

		let parsed: unknown;
		try {
			parsed = raw.length > 0 ? JSON.parse(raw) : undefined;
		} catch {
			return this.fail(400, 'We could not parse the JSON body of your request.');
		}
		if (!isObject(parsed)) return this.fail(400, 'The request body must be a JSON object.');
		entry.body = parsed;
		if (typeof parsed.model !== 'string') {
			return this.fail(400, 'You must provide a model parameter.');
		}
		entry.promptTokens = countPromptTokens(parsed);

		if (behavior.failWith !== undefined) {
			const failure =
				typeof behavior.failWith === 'number' ? { status: behavior.failWith } : behavior.failWith;
			const headers: Record<string, string> =
				failure.retryAfterMs === undefined
					? {}
					: { 'retry-after-ms': String(failure.retryAfterMs) };
			return this.json(
				failure.status,
				errorBody(failure.status, failure.message, failure.type, failure.code),
				headers
			);
		}

		if (entry.path === '/v1/chat/completions') {
			if (!Array.isArray(parsed.messages)) {
				return this.fail(400, "Missing required parameter: 'messages'.");
			}
			const cap = integer(parsed.max_completion_tokens) ?? integer(parsed.max_tokens);
			if (parsed.stream === true) return this.streamChat(parsed, cap);
			return this.answerChat(parsed, cap);
		}

		if (parsed.input === undefined) return this.fail(400, "Missing required parameter: 'input'.");
		const cap = integer(parsed.max_output_tokens);
		if (cap !== undefined && cap < 16 && behavior.enforceResponsesMinimumOutputTokens) {
			return this.fail(
				400,
				`Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got ${cap} instead.`,
				'invalid_request_error',
				'integer_below_min_value'
			);
		}
		if (parsed.stream === true) return this.streamResponse(parsed, cap);
		return this.answerResponse(parsed, cap);
	}

	// --- Chat Completions -------------------------------------------------------------------

	private async streamChat(body: Record<string, unknown>, cap: number | undefined) {
		const { entry, behavior } = this;
		const { chunks, finishReason } = planReply(behavior.reply, cap);
		const includeUsage =
			isObject(body.stream_options) && body.stream_options.include_usage === true;
		const base = {
			id: `chatcmpl-test${this.id}`,
			object: 'chat.completion.chunk',
			created: this.created,
			model: body.model,
			service_tier: 'default',
			system_fingerprint: 'fp_test'
		};
		// With include_usage, OpenAI puts `usage: null` on every chunk but the last.
		const chunk = (choices: unknown[], usage: unknown = null) =>
			`data: ${JSON.stringify({ ...base, choices, ...(includeUsage ? { usage } : {}) })}\n\n`;
		const choice = (delta: Record<string, unknown>, finish: string | null = null) => ({
			index: 0,
			delta,
			logprobs: null,
			finish_reason: finish
		});

		this.startStream();
		if (!(await this.pause(behavior.firstChunkDelayMs))) return;
		this.write(chunk([choice({ role: 'assistant', content: '', refusal: null })]));
		const chatError = () => {
			const { error } = errorBody(500);
			return `data: ${JSON.stringify({ error })}\n\n`;
		};
		for (const [i, piece] of chunks.entries()) {
			if (i > 0 && !(await this.pause(behavior.delayMs))) return;
			if (this.errorDue()) return this.endWithError(chatError());
			if (!(await this.sendToken(chunk([choice({ content: piece.text })]), piece))) return;
		}
		if (this.errorDue(true)) return this.endWithError(chatError());
		if (await this.cutHere(true)) return;
		entry.finishReason = finishReason;
		this.write(chunk([choice({}, finishReason)]));
		if (includeUsage && !behavior.omitUsage) {
			const usage = this.reportUsage();
			this.write(chunk([], chatUsage(usage)));
		}
		this.write('data: [DONE]\n\n');
		this.finish();
	}

	private async answerChat(body: Record<string, unknown>, cap: number | undefined) {
		const { entry, behavior } = this;
		const { chunks, finishReason } = planReply(behavior.reply, cap);
		const sent = await this.produceSilently(chunks);
		if (!sent) return;
		entry.finishReason = finishReason;
		const usage = behavior.omitUsage ? undefined : this.reportUsage();
		this.json(200, {
			id: `chatcmpl-test${this.id}`,
			object: 'chat.completion',
			created: this.created,
			model: body.model,
			choices: [
				{
					index: 0,
					message: {
						role: 'assistant',
						content: chunks.map((c) => c.text).join(''),
						refusal: null,
						annotations: []
					},
					logprobs: null,
					finish_reason: finishReason
				}
			],
			usage: usage && chatUsage(usage),
			service_tier: 'default',
			system_fingerprint: 'fp_test'
		});
		entry.completed = true;
	}

	// --- Responses --------------------------------------------------------------------------

	private async streamResponse(body: Record<string, unknown>, cap: number | undefined) {
		const { entry, behavior } = this;
		const { chunks, finishReason } = planReply(behavior.reply, cap);
		const itemId = `msg_test${this.id}`;
		let sequence = 0;
		const event = (type: string, data: Record<string, unknown>) =>
			`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...data })}\n\n`;
		const where = { item_id: itemId, output_index: 0, content_index: 0 };

		this.startStream();
		this.write(event('response.created', { response: this.responseObject(body, 'in_progress') }));
		this.write(
			event('response.in_progress', { response: this.responseObject(body, 'in_progress') })
		);
		if (!(await this.pause(behavior.firstChunkDelayMs))) return;
		this.write(
			event('response.output_item.added', {
				output_index: 0,
				item: { id: itemId, type: 'message', status: 'in_progress', content: [], role: 'assistant' }
			})
		);
		this.write(
			event('response.content_part.added', {
				...where,
				part: { type: 'output_text', annotations: [], logprobs: [], text: '' }
			})
		);
		// A mid-stream failure as OpenAI reports it on this API; the SDK surfaces it as an error part.
		const responseFailed = () => {
			const usage = behavior.omitUsage ? undefined : this.reportUsage();
			const response = this.responseObject(body, 'failed', [], usage);
			const error = { code: 'server_error', message: errorBody(500).error.message };
			return event('response.failed', { response: { ...response, error } });
		};
		for (const [i, piece] of chunks.entries()) {
			if (i > 0 && !(await this.pause(behavior.delayMs))) return;
			const delta = event('response.output_text.delta', {
				...where,
				delta: piece.text,
				logprobs: []
			});
			if (this.errorDue()) return this.endWithError(responseFailed());
			if (!(await this.sendToken(delta, piece))) return;
		}
		if (this.errorDue(true)) return this.endWithError(responseFailed());
		if (await this.cutHere(true)) return;
		entry.finishReason = finishReason;
		const text = chunks.map((c) => c.text).join('');
		const part = { type: 'output_text', annotations: [], logprobs: [], text };
		const status = finishReason === 'length' ? 'incomplete' : 'completed';
		const item = { id: itemId, type: 'message', status, content: [part], role: 'assistant' };
		this.write(event('response.output_text.done', { ...where, text, logprobs: [] }));
		this.write(event('response.content_part.done', { ...where, part }));
		this.write(event('response.output_item.done', { output_index: 0, item }));
		const usage = behavior.omitUsage ? undefined : this.reportUsage();
		// OpenAI ends a capped response with `response.incomplete`, not `response.completed`.
		const final = status === 'completed' ? 'response.completed' : 'response.incomplete';
		this.write(event(final, { response: this.responseObject(body, status, [item], usage) }));
		this.finish();
	}

	private async answerResponse(body: Record<string, unknown>, cap: number | undefined) {
		const { entry, behavior } = this;
		const { chunks, finishReason } = planReply(behavior.reply, cap);
		if (!(await this.produceSilently(chunks))) return;
		entry.finishReason = finishReason;
		const text = chunks.map((c) => c.text).join('');
		const status = finishReason === 'length' ? 'incomplete' : 'completed';
		const item = {
			id: `msg_test${this.id}`,
			type: 'message',
			status,
			content: [{ type: 'output_text', annotations: [], logprobs: [], text }],
			role: 'assistant'
		};
		const usage = behavior.omitUsage ? undefined : this.reportUsage();
		this.json(200, this.responseObject(body, status, [item], usage));
		entry.completed = true;
	}

	private responseObject(
		body: Record<string, unknown>,
		status: 'in_progress' | 'completed' | 'incomplete' | 'failed',
		output: unknown[] = [],
		usage?: { prompt: number; completion: number }
	) {
		return {
			id: `resp_test${this.id}`,
			object: 'response',
			created_at: this.created,
			status,
			background: false,
			error: null,
			incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
			instructions: body.instructions ?? null,
			max_output_tokens: body.max_output_tokens ?? null,
			model: body.model,
			output,
			parallel_tool_calls: true,
			previous_response_id: null,
			reasoning: { effort: null, summary: null },
			service_tier: 'default',
			store: body.store ?? true,
			temperature: body.temperature ?? 1,
			text: { format: { type: 'text' } },
			tool_choice: 'auto',
			tools: [],
			top_p: body.top_p ?? 1,
			truncation: 'disabled',
			usage:
				usage === undefined
					? null
					: {
							input_tokens: usage.prompt,
							input_tokens_details: { cached_tokens: 0 },
							output_tokens: usage.completion,
							output_tokens_details: { reasoning_tokens: 0 },
							total_tokens: usage.prompt + usage.completion
						},
			user: null,
			metadata: {}
		};
	}

	// --- Plumbing ---------------------------------------------------------------------------

	private get closed() {
		return this.gone.signal.aborted;
	}

	private fail(status: number, message?: string, type?: string, code?: string | null) {
		this.json(status, errorBody(status, message, type, code));
	}

	private json(status: number, value: unknown, headers: Record<string, string> = {}) {
		if (this.closed) return;
		const text = JSON.stringify(value);
		this.entry.status = status;
		this.res.writeHead(status, {
			'content-type': 'application/json',
			'content-length': Buffer.byteLength(text),
			'x-request-id': `req_test${this.id}`,
			...headers
		});
		this.res.end(text);
	}

	private startStream() {
		this.entry.status = 200;
		this.res.writeHead(200, {
			'content-type': 'text/event-stream; charset=utf-8',
			'cache-control': 'no-cache',
			connection: 'keep-alive',
			'x-request-id': `req_test${this.id}`
		});
		// The client's fetch resolves on the head, as with the real API, before any token exists.
		this.res.flushHeaders();
	}

	/** Sends one token's event, or cuts the connection when `failAfterChunks` says so. */
	private async sendToken(text: string, piece: TokenChunk): Promise<boolean> {
		if (await this.cutHere()) return false;
		if (!this.write(text)) return false;
		this.entry.chunksSent++;
		this.entry.tokensSent += piece.tokens;
		return true;
	}

	/** Non-streaming answers still take their time and can still fail midway. */
	private async produceSilently(chunks: TokenChunk[]): Promise<boolean> {
		if (!(await this.pause(this.behavior.firstChunkDelayMs))) return false;
		for (const [i, piece] of chunks.entries()) {
			if (i > 0 && !(await this.pause(this.behavior.delayMs))) return false;
			if (await this.failsSilently(false)) return false;
			this.entry.chunksSent++;
			this.entry.tokensSent += piece.tokens;
		}
		return !(await this.failsSilently(true)) && !this.closed;
	}

	/** Without a stream to break, a failure mid-answer is a cut connection or a plain 500. */
	private async failsSilently(afterText: boolean): Promise<boolean> {
		if (await this.cutHere(afterText)) return true;
		if (!this.errorDue(afterText)) return false;
		this.entry.erroredMidStream = true;
		this.fail(500);
		return true;
	}

	/** `afterText`: every planned token is out, so any limit has been reached. */
	private async cutHere(afterText = false): Promise<boolean> {
		const limit = this.behavior.failAfterChunks;
		if (limit === undefined || (!afterText && this.entry.chunksSent < limit)) return false;
		this.entry.failedMidStream = true;
		// Destroying at once would drop what is still buffered in the socket: let the tokens
		// already "sent" reach the client first, as they would from a real upstream that then dies.
		await Promise.race([this.flushed, this.whenGone]);
		this.res.destroy();
		return true;
	}

	private errorDue(afterText = false): boolean {
		const limit = this.behavior.errorAfterChunks;
		return limit !== undefined && (afterText || this.entry.chunksSent >= limit);
	}

	private endWithError(frame: string) {
		this.entry.erroredMidStream = true;
		this.write(frame);
		if (!this.closed) this.res.end();
	}

	private write(text: string): boolean {
		if (this.closed) return false;
		this.flushed = new Promise((resolve) => this.res.write(text, () => resolve()));
		return true;
	}

	private finish() {
		if (this.closed) return;
		this.res.end();
		this.entry.completed = true;
	}

	/** Waits, unless the connection closes first; says whether it is still worth writing. */
	private async pause(ms: number): Promise<boolean> {
		if (ms > 0 && !this.closed) {
			await sleep(ms, undefined, { signal: this.gone.signal }).catch(() => undefined);
		}
		return !this.closed;
	}

	private reportUsage() {
		const { behavior, entry } = this;
		const usage = {
			prompt: behavior.usage?.prompt ?? behavior.promptTokens ?? entry.promptTokens,
			completion: behavior.usage?.completion ?? entry.tokensSent
		};
		entry.usage = usage;
		return usage;
	}
}

async function readBody(req: IncomingMessage): Promise<string> {
	const parts: Buffer[] = [];
	try {
		for await (const part of req) parts.push(part as Buffer);
	} catch {
		// The client went away mid-upload; the close handler records it.
	}
	return Buffer.concat(parts).toString('utf8');
}

/** Chat Completions' `usage` object, as OpenAI fills it. */
function chatUsage(usage: { prompt: number; completion: number }) {
	return {
		prompt_tokens: usage.prompt,
		completion_tokens: usage.completion,
		total_tokens: usage.prompt + usage.completion,
		prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
		completion_tokens_details: {
			reasoning_tokens: 0,
			audio_tokens: 0,
			accepted_prediction_tokens: 0,
			rejected_prediction_tokens: 0
		}
	};
}
