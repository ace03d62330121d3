import type {
	LanguageModelV4,
	LanguageModelV4CallOptions,
	LanguageModelV4Prompt,
	LanguageModelV4StreamPart
} from '@ai-sdk/provider';
import { capPieces, countTokensSliced, tokenPieces, type TokenPiece } from './tokens';

export const DEMO_MODEL_ID = 'demo';

/**
 * The model a newcomer gets without an API key: it implements the AI SDK's language-model
 * interface, streams a deterministic, useful reply token by token at a readable pace, honours
 * the output cap and Stop, and reports real token counts, so metering works exactly as with a
 * real model.
 */
export function createDemoModel(options: { delayMs: number }): LanguageModelV4 {
	return {
		specificationVersion: 'v4',
		provider: 'credit-chat',
		modelId: DEMO_MODEL_ID,
		supportedUrls: {},
		async doGenerate() {
			throw new Error('The demo model only streams.');
		},
		async doStream(call: LanguageModelV4CallOptions) {
			// The prompt may be as long as the history budget allows: counted in slices, like the
			// server's own estimate, so the demo never blocks the event loop either. The reply itself
			// is short whatever was asked (it quotes at most 200 characters).
			const inputTokens = await countTokensSliced(promptText(call.prompt));
			const question = lastUserText(call.prompt);
			const pieces = capPieces(
				tokenPieces(demoReply(question, await countTokensSliced(question))),
				call.maxOutputTokens
			);
			return {
				stream: tokenStream(pieces, inputTokens, options.delayMs, call.abortSignal)
			};
		}
	};
}

function tokenStream(
	{ pieces, cut }: { pieces: TokenPiece[]; cut: boolean },
	inputTokens: number,
	delayMs: number,
	signal: AbortSignal | undefined
): ReadableStream<LanguageModelV4StreamPart> {
	const aborted = () => signal?.reason ?? new DOMException('Aborted', 'AbortError');
	let next = 0;
	let outputTokens = 0;
	return new ReadableStream<LanguageModelV4StreamPart>({
		start(controller) {
			controller.enqueue({ type: 'stream-start', warnings: [] });
			controller.enqueue({ type: 'text-start', id: 'text-0' });
		},
		async pull(controller) {
			if (next < pieces.length) {
				if (delayMs > 0) await sleep(delayMs, signal);
				if (signal?.aborted) return controller.error(aborted());
				const piece = pieces[next++];
				outputTokens += piece.tokens;
				controller.enqueue({ type: 'text-delta', id: 'text-0', delta: piece.text });
				return;
			}
			const reason = cut ? 'length' : 'stop';
			controller.enqueue({ type: 'text-end', id: 'text-0' });
			controller.enqueue({
				type: 'finish',
				finishReason: { unified: reason, raw: reason },
				usage: {
					inputTokens: { total: inputTokens, noCache: inputTokens, cacheRead: 0, cacheWrite: 0 },
					outputTokens: { total: outputTokens, text: outputTokens, reasoning: 0 }
				}
			});
			controller.close();
		}
	});
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
	return new Promise((resolve) => {
		const timer = setTimeout(resolve, ms);
		signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
	});
}

function contentText(content: LanguageModelV4Prompt[number]['content']): string {
	if (typeof content === 'string') return content;
	return content
		.map((part) => ('text' in part && typeof part.text === 'string' ? part.text : ''))
		.join('');
}

function promptText(prompt: LanguageModelV4Prompt): string {
	return prompt.map((message) => contentText(message.content)).join('\n');
}

function lastUserText(prompt: LanguageModelV4Prompt): string {
	const last = [...prompt].reverse().find((message) => message.role === 'user');
	return last ? contentText(last.content).trim() : '';
}

/** The demo's answer: what it heard (`questionTokens` long), and how this very reply is metered. */
export function demoReply(question: string, questionTokens: number): string {
	const quoted = question.length > 200 ? `${question.slice(0, 200)}…` : question;
	const words = question ? question.split(/\s+/).length : 0;
	return [
		`**Demo mode.** No model API key is configured, so this answer comes from the built-in demo model. It streams and is billed exactly like a real model.`,
		'',
		`You asked: _${quoted.replace(/[_*`]/g, '')}_ (${words} ${words === 1 ? 'word' : 'words'}, ${questionTokens} tokens).`,
		'',
		'Here is how this reply is charged:',
		'',
		'1. Before the model starts, credits for the worst case are **reserved**, so a reply can never cost more than you have.',
		'2. While it streams, every token is counted.',
		'3. When it finishes, you pay for the tokens actually used, input and output together, and the rest of the reservation is released:',
		'',
		'```ts',
		'const credits = Math.ceil(((inputTokens + outputTokens) * rate) / 1000);',
		'```',
		'',
		'Credits come from your package that expires soonest. Press **Stop** at any time: you pay only for what was produced.',
		'',
		'To talk to a real model, set `OPENAI_API_KEY` (or `OPENAI_BASE_URL` for Ollama, vLLM or llama.cpp) and restart the server.'
	].join('\n');
}
