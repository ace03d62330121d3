import { countTokens, decodeGenerator, encode } from 'gpt-tokenizer';
import {
	CUT_MARGIN,
	MAX_CHARS_PER_TOKEN,
	PER_MESSAGE_OVERHEAD,
	PROMPT_OVERHEAD,
	SLICE_CHARS
} from '../../reply-estimate';

// The constants live in a module the browser can import too (the composer's credits hint).
export { CUT_MARGIN, MAX_CHARS_PER_TOKEN, PER_MESSAGE_OVERHEAD, PROMPT_OVERHEAD, SLICE_CHARS };

/**
 * Tokens in a short piece of text, in one tokenizer call (OpenAI's o200k encoding; close enough
 * for other models too). gpt-tokenizer is superlinear on long unbroken runs (200,000 × "a" blocked
 * the event loop for 12–29 s), so anything a user or a model can make long goes through
 * `countTokensSliced` instead.
 */
export function tokensIn(text: string): number {
	return text ? countTokens(text) : 0;
}

const SPACE = /\s/;
const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

export interface TextSlice {
	text: string;
	/** Cut from the previous slice inside a run (costs CUT_MARGIN), not at a word's end. */
	hardCut: boolean;
}

/**
 * Cuts text into slices of at most `size` characters. A soft cut, taken when the slice's second
 * half has one, falls between a letter or digit and a whitespace: no o200k pre-token spans that
 * point (words and numbers end there, and whitespace pre-tokens start there), so the slices'
 * counts add up exactly. Otherwise the cut is hard, at `size` (never inside a surrogate pair).
 */
export function textSlices(text: string, size = SLICE_CHARS): TextSlice[] {
	const slices: TextSlice[] = [];
	let start = 0;
	let hardCut = false;
	while (text.length - start > size) {
		let end = start + size;
		let soft = false;
		for (let i = end; i > start + size / 2; i--) {
			if (SPACE.test(text[i]) && LETTER_OR_DIGIT.test(text[i - 1])) {
				end = i;
				soft = true;
				break;
			}
		}
		const before = text.charCodeAt(end - 1);
		if (!soft && before >= 0xd800 && before <= 0xdbff) end--;
		slices.push({ text: text.slice(start, end), hardCut });
		hardCut = !soft;
		start = end;
	}
	if (start < text.length) slices.push({ text: text.slice(start), hardCut });
	return slices;
}

/** Lets timers, I/O and other requests run between two slices of tokenizer work. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * An upper estimate of the tokens in `text` that never blocks the event loop for long: the text
 * is tokenized a slice at a time (see SLICE_CHARS), yielding between slices, and every hard cut
 * adds CUT_MARGIN. Exact for prose and for text of one slice. With `stopAbove`, counting ends as soon as the total
 * exceeds it (the answer is then only known to be over `stopAbove`).
 */
export async function countTokensSliced(text: string, stopAbove = Infinity): Promise<number> {
	let total = 0;
	for (const [i, slice] of textSlices(text).entries()) {
		if (i > 0) {
			if (total > stopAbove) break;
			await yieldToEventLoop();
		}
		total += countTokens(slice.text) + (slice.hardCut ? CUT_MARGIN : 0);
	}
	return total;
}

/** An upper estimate of the prompt tokens of these messages. */
export async function promptTokens(messages: { text: string }[]): Promise<number> {
	let total = PROMPT_OVERHEAD;
	for (const m of messages) total += (await countTokensSliced(m.text)) + PER_MESSAGE_OVERHEAD;
	return total;
}

export interface TokenPiece {
	text: string;
	/** Tokens this piece stands for (more than one when a character spans several tokens). */
	tokens: number;
}

/**
 * Splits text into the pieces a model would stream: one per token, except that a character made
 * of several tokens travels whole. (Decoding single tokens with gpt-tokenizer 4's `decode` is
 * unreliable mid-character; `decodeGenerator` yields whole characters only, so counting the tokens
 * it pulls between two pieces gives each piece's cost.)
 */
export function tokenPieces(text: string): TokenPiece[] {
	const ids = encode(text);
	let pulled = 0;
	const counted = (function* () {
		for (const id of ids) {
			pulled++;
			yield id;
		}
	})();
	const pieces: TokenPiece[] = [];
	let accounted = 0;
	for (const piece of decodeGenerator(counted)) {
		pieces.push({ text: piece, tokens: pulled - accounted });
		accounted = pulled;
	}
	if (pulled > accounted && pieces.length > 0)
		pieces[pieces.length - 1].tokens += pulled - accounted;
	return pieces;
}

/** The pieces that fit in `limit` tokens, and whether the text was cut there. */
export function capPieces(pieces: TokenPiece[], limit = Infinity) {
	const kept: TokenPiece[] = [];
	let tokens = 0;
	for (const piece of pieces) {
		if (tokens + piece.tokens > limit) break;
		kept.push(piece);
		tokens += piece.tokens;
	}
	return { pieces: kept, cut: kept.length < pieces.length };
}
