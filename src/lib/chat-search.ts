import type { ChatSummary } from './types';

/** The longest chat search, in characters; longer input is cut (the field says so too). */
export const MAX_CHAT_SEARCH = 100;

/** How many chats a search shows at most (most recently active first). */
export const MAX_CHAT_RESULTS = 50;

/** A chat that matches a search, with a piece of the matching message text when there is one. */
export interface ChatSearchHit extends ChatSummary {
	/** Text around the match in the chat's latest matching message; null when no message matches. */
	snippet: string | null;
}

/**
 * The search as the server runs it: trimmed, at most MAX_CHAT_SEARCH characters (whole code
 * points), without characters PostgreSQL cannot compare (NUL, lone surrogates). Empty means
 * no search.
 */
export function boundChatSearch(raw: string | null | undefined): string {
	if (typeof raw !== 'string') return '';
	const clean = raw.replaceAll('\0', '').toWellFormed().trim();
	return Array.from(clean).slice(0, MAX_CHAT_SEARCH).join('').trim();
}

/** A snippet on one line: runs of whitespace (newlines too) become one space, with … where cut. */
export function snippetText(text: string, cutStart: boolean, cutEnd: boolean): string {
	const line = text.replace(/\s+/g, ' ').trim();
	return `${cutStart ? '…' : ''}${line}${cutEnd ? '…' : ''}`;
}

/** `text` in pieces, those equal to `q` (any case) marked, for highlighting a snippet. */
export function splitMatches(text: string, q: string): { text: string; match: boolean }[] {
	const needle = q.toLowerCase();
	const haystack = text.toLowerCase();
	// Lower-casing can change lengths (rare letters); then nothing is marked rather than the wrong text.
	if (!needle || haystack.length !== text.length) return [{ text, match: false }];
	const pieces: { text: string; match: boolean }[] = [];
	let from = 0;
	for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, from)) {
		if (at > from) pieces.push({ text: text.slice(from, at), match: false });
		pieces.push({ text: text.slice(at, at + needle.length), match: true });
		from = at + needle.length;
	}
	if (from < text.length) pieces.push({ text: text.slice(from), match: false });
	return pieces;
}
