import { describe, expect, it } from 'vitest';
import { canonicalJson } from './idempotency';

describe('canonicalJson', () => {
	it('ignores key order at every depth', () => {
		expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe(
			canonicalJson({ a: { c: null, d: [2, 1] }, b: 1 })
		);
	});

	it('keeps array order and distinguishes values', () => {
		expect(canonicalJson({ a: [1, 2] })).not.toBe(canonicalJson({ a: [2, 1] }));
		expect(canonicalJson({ a: 1 })).not.toBe(canonicalJson({ a: '1' }));
	});
});
