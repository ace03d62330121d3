import { describe, expect, it } from 'vitest';
import { safeRedirectTarget } from './redirect';

const ORIGIN = 'https://chat.example';

describe('safeRedirectTarget', () => {
	it.each([
		['/dashboard/chat?x=1', '/dashboard/chat?x=1'],
		['/dashboard/credits#history', '/dashboard/credits#history'],
		['/', '/'],
		[null, '/dashboard'],
		['', '/dashboard'],
		['https://evil.example', '/dashboard'],
		['//evil.example', '/dashboard'],
		['/\\evil.example', '/dashboard'],
		['/\t/evil.example', '/dashboard'],
		['/\n/evil.example', '/dashboard'],
		['/\r\n/evil.example', '/dashboard'],
		['/\\\\evil.example', '/dashboard'],
		['https://chat.example.evil.example/', '/dashboard'],
		['dashboard', '/dashboard'],
		['javascript:alert(1)', '/dashboard'],
		// Control characters stay inside the path, escaped: never a raw one in a header.
		['/dash\u0001board', '/dash%01board'],
		['/a b', '/a%20b']
	])('%j -> %s', (input, expected) => {
		expect(safeRedirectTarget(input, ORIGIN)).toBe(expected);
	});

	it('only ever answers a same-origin path', () => {
		for (const input of ['/\t\t//evil.example', '/ /evil.example', '/%2F%2Fevil.example']) {
			const target = safeRedirectTarget(input, ORIGIN);
			expect(new URL(target, ORIGIN).origin).toBe(ORIGIN);
			expect(target).toMatch(/^\/(?!\/)/);
		}
	});
});
