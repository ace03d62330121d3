import { describe, expect, it } from 'vitest';
import { safeRedirectTarget } from './redirect';

describe('safeRedirectTarget', () => {
	it.each([
		['/dashboard/chat?x=1', '/dashboard/chat?x=1'],
		['/', '/'],
		[null, '/dashboard'],
		['', '/dashboard'],
		['https://evil.example', '/dashboard'],
		['//evil.example', '/dashboard'],
		['/\\evil.example', '/dashboard'],
		['dashboard', '/dashboard']
	])('%s -> %s', (input, expected) => {
		expect(safeRedirectTarget(input)).toBe(expected);
	});
});
