import { describe, expect, it } from 'vitest';
import { creditsForTokens, tokensForCredits } from './pricing';

describe('creditsForTokens: ceil(tokens × rate / 1000)', () => {
	it.each([
		[0, 1, 0],
		[1, 1, 1],
		[1000, 1, 1],
		[1001, 1, 2],
		[2200, 1, 3],
		[1500 + 700, 1, 3],
		[999, 10, 10],
		[1000, 10, 10],
		[1001, 10, 11],
		[10_000, 0.7, 7],
		[3000, 1.1, 4],
		[1000, 0.5, 1],
		[2000, 0.5, 1]
	])('%i tokens at rate %d cost %i credits', (tokens, rate, credits) => {
		expect(creditsForTokens(tokens, rate)).toBe(credits);
	});

	it('refuses nonsense', () => {
		expect(() => creditsForTokens(-1)).toThrow(RangeError);
		expect(() => creditsForTokens(1.5)).toThrow(RangeError);
		expect(() => creditsForTokens(10, -1)).toThrow(RangeError);
		expect(() => creditsForTokens(10, Number.NaN)).toThrow(RangeError);
	});

	it('inverts: a hold of N credits pays for exactly tokensForCredits(N) tokens', () => {
		for (const rate of [0.5, 1, 2.5, 10]) {
			for (const credits of [1, 3, 17]) {
				const tokens = tokensForCredits(credits, rate);
				expect(creditsForTokens(tokens, rate)).toBeLessThanOrEqual(credits);
				expect(creditsForTokens(tokens + 1, rate)).toBeGreaterThan(credits);
			}
		}
	});
});
