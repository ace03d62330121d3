// The reply's worst-case size, shared by the server (which reserves credits for it) and the
// composer (which shows it before sending). Never import server code from here.

/**
 * The most characters one tokenizer call sees (see tokens.ts: a hard cut between two slices costs
 * CUT_MARGIN tokens of estimate).
 */
export const SLICE_CHARS = 256;

/** Tokens added to the server's estimate for every hard cut inside a run (see tokens.ts). */
export const CUT_MARGIN = 3;

/**
 * A generous bound on characters per token, for dropping text unread: o200k averages about four
 * characters of English per token and rarely reaches eight on real text. Text beyond
 * `budget × MAX_CHARS_PER_TOKEN` characters is taken not to fit a token budget without
 * tokenizing it; at worst that drops a history message which would just have fitted (a quality
 * cost, never a billing one: it only shortens the prompt).
 */
export const MAX_CHARS_PER_TOKEN = 8;

// Chat formats add a few tokens of framing per message; counting them keeps estimates high, not low.
export const PER_MESSAGE_OVERHEAD = 4;
// …and a few for the prompt as a whole.
export const PROMPT_OVERHEAD = 3;

/**
 * The most tokens the server can count for `text` without tokenizing it: o200k is a byte-level
 * BPE, so every token covers at least one UTF-8 byte, and the server's sliced count adds
 * CUT_MARGIN per hard cut (at most one per SLICE_CHARS / 2 characters). MAX_CHARS_PER_TOKEN
 * bounds the other way (the fewest tokens text can be), so it cannot serve here.
 */
export function maxTokensOf(text: string): number {
	if (!text) return 0;
	const bytes = new TextEncoder().encode(text).length;
	return bytes + CUT_MARGIN * Math.ceil(text.length / (SLICE_CHARS / 2));
}

/** What the server needs to size a reply's hold, minus the new question (the page load's). */
export interface ReplyEstimate {
	/**
	 * The prompt's estimated tokens with an empty question: the stored history that fits the
	 * budget, the prompt's framing and the question's framing.
	 */
	promptTokens: number;
	/** CHAT_MAX_OUTPUT_TOKENS. */
	maxOutputTokens: number;
}

/** A new chat: no history, only the framing. */
export const emptyPromptTokens = PER_MESSAGE_OVERHEAD + PROMPT_OVERHEAD;

/** ceil(tokens × rate / 1000), exactly as the server's creditsForTokens computes it. */
export function creditsFor(tokens: number, rate = 1): number {
	const rateMilli = BigInt(Math.round(rate * 1000));
	const perCredit = 1_000_000n;
	return Number((BigInt(tokens) * rateMilli + perCredit - 1n) / perCredit);
}

/**
 * The most credits sending `draft` can hold: the server reserves
 * ceil((prompt tokens + CHAT_MAX_OUTPUT_TOKENS) × rate / 1000), capped at what is available.
 * It is an upper bound because every part is: the history's tokens are counted as the server
 * counts them (with the question empty — a longer question only leaves less history in the
 * budget), the draft is taken at one token per UTF-8 byte plus the slicing margin (the server's
 * count can never exceed that), and the reply is taken at its full output limit. A settled reply
 * never costs more than its hold.
 */
export function maxReplyCredits(
	estimate: ReplyEstimate,
	draft: string,
	rate: number,
	available: number
): number {
	const tokens = estimate.promptTokens + maxTokensOf(draft) + estimate.maxOutputTokens;
	return Math.max(0, Math.min(available, creditsFor(tokens, rate)));
}
