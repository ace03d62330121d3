import { describe, expect, it } from 'vitest';
import { creditsForTokens } from './server/credits/pricing';
import { countTokensSliced } from './server/chat/tokens';
import { creditsFor, maxReplyCredits, maxTokensOf } from './reply-estimate';

describe('the composer hint: an upper bound of what the server reserves', () => {
	const samples = [
		'',
		'Hello there',
		'a'.repeat(5_000),
		'日本語のテキスト'.repeat(200),
		'😀'.repeat(700),
		'e\u0301'.repeat(900),
		'word '.repeat(1_000),
		'{"a":[1,2,3]}'.repeat(300),
		Array.from({ length: 3_000 }, (_, i) => String.fromCharCode(33 + ((i * 7919) % 90))).join('')
	];

	it.each(samples.map((s) => [s.slice(0, 20), s]))(
		'maxTokensOf(%j…) is never below the server’s sliced count',
		async (_, text) => {
			expect(maxTokensOf(text)).toBeGreaterThanOrEqual(await countTokensSliced(text));
		}
	);

	it('rounds credits exactly like creditsForTokens', () => {
		for (const [tokens, rate] of [
			[0, 1],
			[1, 1],
			[999, 1],
			[1_000, 1],
			[10_000, 0.7],
			[12_345, 2.5],
			[3, 10]
		]) {
			expect(creditsFor(tokens, rate)).toBe(creditsForTokens(tokens, rate));
		}
	});

	it('grows with the draft and is capped at what is available', () => {
		const estimate = { promptTokens: 500, maxOutputTokens: 1_000 };
		expect(maxReplyCredits(estimate, 'hi', 1, 100)).toBe(creditsFor(1_502, 1));
		expect(maxReplyCredits(estimate, 'x'.repeat(2_000), 1, 100)).toBeGreaterThan(
			maxReplyCredits(estimate, 'hi', 1, 100)
		);
		expect(maxReplyCredits(estimate, 'x'.repeat(2_000), 1, 3)).toBe(3);
	});
});
