import type {
	LanguageModelV4,
	LanguageModelV4Prompt,
	LanguageModelV4StreamPart
} from '@ai-sdk/provider';
import type { HistoryMessage } from './history';

/** How a model call ended: usage as the provider reported it (absent when it did not). */
export interface ModelEnd {
	inputTokens?: number;
	outputTokens?: number;
	/** The provider's unified finish reason (`stop`, `length`, …) when it finished. */
	finishReason?: string;
	/** Stopped through the abort signal (Stop, shutdown). */
	aborted: boolean;
	/** The upstream failed: before any output (doStream threw) or mid-stream. */
	error?: unknown;
}

/** The stored conversation as the provider-level prompt (text only, no system prompt). */
export function promptOf(messages: HistoryMessage[]): LanguageModelV4Prompt {
	return messages.map((message) => ({
		role: message.role,
		content: [{ type: 'text', text: message.text }]
	}));
}

/**
 * Calls the model's provider stream (`doStream` of the language model spec) and hands every text
 * delta to `onText`, with no stream layer of our own in between: the AI SDK still speaks the
 * provider's protocol (request, SSE parsing, usage), and the caller writes the UI message stream
 * itself. Resolves — never rejects — once the model is done, stopped or failed. Reasoning and
 * other parts are not shown; their tokens are still in the reported usage.
 */
export async function streamModel(
	model: LanguageModelV4,
	call: { prompt: LanguageModelV4Prompt; maxOutputTokens: number; abortSignal: AbortSignal },
	onText: (delta: string) => void
): Promise<ModelEnd> {
	const { abortSignal } = call;
	let reader: ReadableStreamDefaultReader<LanguageModelV4StreamPart>;
	try {
		const { stream } = await model.doStream({
			prompt: call.prompt,
			maxOutputTokens: call.maxOutputTokens,
			abortSignal
		});
		reader = stream.getReader();
	} catch (error) {
		return abortSignal.aborted ? { aborted: true } : { aborted: false, error };
	}
	// A provider that ignores the signal still stops: its stream is cancelled, also when the abort
	// came while doStream was pending (a listener added to an aborted signal never runs).
	const cancel = () => void reader.cancel(abortSignal.reason).catch(() => {});
	if (abortSignal.aborted) cancel();
	else abortSignal.addEventListener('abort', cancel, { once: true });
	const end: ModelEnd = { aborted: false };
	try {
		for (;;) {
			const { done, value } = await reader.read();
			if (done) break;
			if (value.type === 'text-delta') {
				onText(value.delta);
			} else if (value.type === 'finish') {
				end.inputTokens = value.usage.inputTokens.total;
				end.outputTokens = value.usage.outputTokens.total;
				end.finishReason = value.finishReason.unified;
			} else if (value.type === 'error') {
				end.error ??= value.error;
			}
		}
	} catch (error) {
		if (!abortSignal.aborted) end.error ??= error;
	} finally {
		abortSignal.removeEventListener('abort', cancel);
	}
	if (abortSignal.aborted && end.finishReason === undefined) end.aborted = true;
	return end;
}

/** A model call started before its reply may be shown (see `startHeldModelCall`). */
export interface HeldModelCall {
	/** Hands the output so far, then every later delta, to `onText`; resolves as `streamModel`. */
	adopt(onText: (delta: string) => void): Promise<ModelEnd>;
	/** Stops the call; its output is never shown. */
	cancel(reason: string): void;
}

/**
 * Starts `streamModel` at once but holds its output back until `adopt`: the provider's time to
 * its first token then runs alongside the database work that decides whether the reply may be
 * shown at all (the reservation), instead of after it. The call stops with `call.abortSignal`
 * or with `cancel`, whichever comes first.
 */
export function startHeldModelCall(
	model: LanguageModelV4,
	call: { prompt: LanguageModelV4Prompt; maxOutputTokens: number; abortSignal: AbortSignal }
): HeldModelCall {
	const own = new AbortController();
	let held: string[] = [];
	let onText: ((delta: string) => void) | undefined;
	const end = streamModel(
		model,
		{ ...call, abortSignal: AbortSignal.any([call.abortSignal, own.signal]) },
		(delta) => (onText ? onText(delta) : held.push(delta))
	);
	return {
		adopt(consumer) {
			for (const delta of held) consumer(delta);
			held = [];
			onText = consumer;
			return end;
		},
		cancel: (reason) => own.abort(reason)
	};
}
