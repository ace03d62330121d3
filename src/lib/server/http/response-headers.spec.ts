import { describe, expect, it } from 'vitest';
import { acceptedRequestId } from './response-headers';
import { securityHeaders } from './security-headers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('acceptedRequestId', () => {
	it.each(['abc', 'req-1.2_3', 'A'.repeat(64), '0f8fad5b-d9cb-469f-a165-70867728950e'])(
		'keeps the plain token %s',
		(id) => {
			expect(acceptedRequestId(id)).toBe(id);
		}
	);

	it.each([
		['missing', null],
		['empty', ''],
		['65 characters', 'A'.repeat(65)],
		['a space', 'a b'],
		['a newline', 'a\nb'],
		['markup', '<script>'],
		['a colon', 'a:b'],
		['non-ASCII', 'ümlaut']
	])('replaces a %s id with a fresh UUID', (_, id) => {
		expect(acceptedRequestId(id)).toMatch(UUID);
	});
});

describe('securityHeaders', () => {
	const names = (origin?: string) => securityHeaders({ origin }).map(([name]) => name);

	it('sends HSTS only for an https origin', () => {
		expect(names('https://chat.example')).toContain('strict-transport-security');
		for (const origin of [undefined, '', 'http://127.0.0.1:3000', 'not a url']) {
			expect(names(origin)).not.toContain('strict-transport-security');
		}
	});

	it('always denies framing and sniffing', () => {
		const headers = Object.fromEntries(securityHeaders({ origin: undefined }));
		expect(headers['x-frame-options']).toBe('DENY');
		expect(headers['x-content-type-options']).toBe('nosniff');
		expect(headers['permissions-policy']).toContain('camera=()');
	});
});
