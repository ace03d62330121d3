import { describe, expect, it } from 'vitest';
import { boundChatSearch, MAX_CHAT_SEARCH, snippetText, splitMatches } from './chat-search';

describe('boundChatSearch', () => {
	it('is empty for nothing, blanks and non-strings', () => {
		expect(boundChatSearch(null)).toBe('');
		expect(boundChatSearch(undefined)).toBe('');
		expect(boundChatSearch('   \n\t ')).toBe('');
	});

	it('trims', () => {
		expect(boundChatSearch('  hello world  ')).toBe('hello world');
	});

	it('keeps at most MAX_CHAT_SEARCH characters, whole code points', () => {
		expect(boundChatSearch('a'.repeat(500))).toHaveLength(MAX_CHAT_SEARCH);
		const emoji = boundChatSearch('😀'.repeat(150));
		expect(Array.from(emoji)).toHaveLength(MAX_CHAT_SEARCH);
		expect(emoji.isWellFormed()).toBe(true);
	});

	it('trims again after cutting', () => {
		expect(boundChatSearch(`${'a'.repeat(MAX_CHAT_SEARCH - 1)}   tail`)).toBe(
			'a'.repeat(MAX_CHAT_SEARCH - 1)
		);
	});

	it('drops what PostgreSQL cannot compare and keeps LIKE wildcards as typed', () => {
		expect(boundChatSearch('a\0b')).toBe('ab');
		expect(boundChatSearch('x\ud800y').isWellFormed()).toBe(true);
		expect(boundChatSearch('100%_\\')).toBe('100%_\\');
	});
});

describe('snippetText', () => {
	it('puts the text on one line and marks the cuts', () => {
		expect(snippetText('one\n\ntwo   three', false, false)).toBe('one two three');
		expect(snippetText(' middle ', true, true)).toBe('…middle…');
		expect(snippetText('start', false, true)).toBe('start…');
	});
});

describe('splitMatches', () => {
	it('marks every match, any case', () => {
		expect(splitMatches('Bread and bread', 'BREAD')).toEqual([
			{ text: 'Bread', match: true },
			{ text: ' and ', match: false },
			{ text: 'bread', match: true }
		]);
	});

	it('keeps the text whole without a match or a query', () => {
		expect(splitMatches('rye', 'wheat')).toEqual([{ text: 'rye', match: false }]);
		expect(splitMatches('rye', '')).toEqual([{ text: 'rye', match: false }]);
	});

	it('treats wildcards as text', () => {
		expect(splitMatches('50% off', '%')).toEqual([
			{ text: '50', match: false },
			{ text: '%', match: true },
			{ text: ' off', match: false }
		]);
	});
});
