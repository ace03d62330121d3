import { countTokens, decodeGenerator, encode } from 'gpt-tokenizer';

/** Tokens in a piece of text (OpenAI's o200k encoding; close enough for other models too). */
export function tokensIn(text: string): number {
	return text ? countTokens(text) : 0;
}

// Chat formats add a few tokens of framing per message; counting them keeps estimates high, not low.
const PER_MESSAGE_OVERHEAD = 4;

/** An upper estimate of the prompt tokens of these messages. */
export function promptTokens(messages: { text: string }[]): number {
	return messages.reduce((total, m) => total + tokensIn(m.text) + PER_MESSAGE_OVERHEAD, 3);
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
