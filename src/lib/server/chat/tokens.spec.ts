import { countTokens } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { countTokensSliced, CUT_MARGIN, promptTokens, SLICE_CHARS, textSlices } from './tokens';

/** A deterministic pseudo-random source, so a failure can be replayed. */
function random(seed: number) {
	return () => {
		seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
		return seed / 2 ** 31;
	};
}

const ALPHABETS = [
	'abcdefghijklmnopqrstuvwxyz',
	'aeb',
	'中文的是不了人我在有他这为之大来以个',
	'=-_*#.!?~+<>/\\|',
	'éèàüöçñ\u0301',
	' \n\t',
	'0123456789',
	'Hello, world! The quick brown fox; ',
	'😀🙂🚀'
];

/** Text made of runs and single characters from a few alphabets, like pathological input. */
function mixedText(next: () => number, length: number): string {
	let text = '';
	while (text.length < length) {
		const chars = [...ALPHABETS[Math.floor(next() * ALPHABETS.length)]];
		const char = chars[Math.floor(next() * chars.length)];
		text += next() < 0.5 ? char : char.repeat(1 + Math.floor(next() * 200));
	}
	return text.slice(0, length).replace(/[\uD800-\uDBFF]$/, '');
}

const texts = (slices: { text: string }[]) => slices.map((s) => s.text);

describe('textSlices', () => {
	it('keeps short text whole and rejoins to the original', () => {
		expect(textSlices('hello world')).toEqual([{ text: 'hello world', hardCut: false }]);
		const text = 'word '.repeat(1_000);
		const slices = textSlices(text);
		expect(texts(slices).join('')).toBe(text);
		expect(Math.max(...slices.map((s) => s.text.length))).toBeLessThanOrEqual(SLICE_CHARS);
	});

	it('cuts softly between a word and a space, when there is one', () => {
		const slices = textSlices('word '.repeat(1_000));
		for (const slice of slices.slice(1)) {
			expect(slice.text.startsWith(' ')).toBe(true);
			expect(slice.hardCut).toBe(false);
		}
	});

	it('cuts an unbroken run hard at the slice size, never inside a surrogate pair', () => {
		const run = 'a'.repeat(SLICE_CHARS * 3 + 7);
		const slices = textSlices(run);
		expect(slices.map((s) => s.text.length)).toEqual([SLICE_CHARS, SLICE_CHARS, SLICE_CHARS, 7]);
		expect(slices.map((s) => s.hardCut)).toEqual([false, true, true, true]);
		const emoji = 'x' + '😀'.repeat(SLICE_CHARS);
		for (const slice of textSlices(emoji)) expect(slice.text.isWellFormed()).toBe(true);
		expect(texts(textSlices(emoji)).join('')).toBe(emoji);
	});
});

describe('countTokensSliced', () => {
	it('is exact for text of one slice', async () => {
		for (const text of [
			'',
			'Hello there',
			'Wie viel kostet 这个回答? 🙂',
			'a'.repeat(SLICE_CHARS)
		]) {
			expect(await countTokensSliced(text)).toBe(countTokens(text));
		}
	});

	it('never under-estimates, and over-estimates only slightly', async () => {
		const next = random(42);
		for (let trial = 0; trial < 200; trial++) {
			const text = mixedText(next, 600 + Math.floor(next() * 2_400));
			const whole = countTokens(text);
			const sliced = await countTokensSliced(text);
			expect(sliced).toBeGreaterThanOrEqual(whole);
			// Each cut adds its margin, and at most as much again by splitting a run's last token.
			expect(sliced).toBeLessThanOrEqual(whole + 2 * CUT_MARGIN * textSlices(text).length);
		}
		// Prose is cut only between words, where counts add up exactly.
		const prose = 'The quick brown fox jumps over the lazy dog. 1234 times.\n'.repeat(400);
		expect(await countTokensSliced(prose)).toBe(countTokens(prose));
	});

	it('no single tokenizer call of the worst runs blocks for long', async () => {
		const worst = ['a', '中', '\u0301', '€', ' '].map((c) => c.repeat(SLICE_CHARS));
		for (const text of worst) countTokens(text + 'x'); // warm up the JIT, not the cache
		for (const [i, text] of worst.entries()) {
			// A fresh length each time, so gpt-tokenizer's cache cannot answer.
			const run = text.slice(0, SLICE_CHARS - 1 - i);
			const started = performance.now();
			countTokens(run);
			expect(performance.now() - started).toBeLessThan(20);
		}
	});

	it('stops counting once over a limit', async () => {
		const text = 'word '.repeat(2_000);
		const partial = await countTokensSliced(text, 50);
		expect(partial).toBeGreaterThan(50);
		expect(partial).toBeLessThan(countTokens(text));
	});

	it('lets timers run while it counts a long unbroken run', async () => {
		let ticks = 0;
		const timer = setInterval(() => ticks++, 1);
		try {
			expect(await countTokensSliced('a'.repeat(32_000))).toBeGreaterThanOrEqual(32_000 / 8);
		} finally {
			clearInterval(timer);
		}
		expect(ticks).toBeGreaterThan(0);
	});
});

describe('promptTokens', () => {
	it('adds framing per message and per prompt', async () => {
		expect(await promptTokens([{ text: 'Hello there' }])).toBe(countTokens('Hello there') + 4 + 3);
	});
});
