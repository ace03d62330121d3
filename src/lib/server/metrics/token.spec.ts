import { describe, expect, it } from 'vitest';
import { hasBearerToken } from './token';

const TOKEN = 'metrics-token-0123456789abcdef';

describe('hasBearerToken', () => {
	it('accepts exactly the bearer token', () => {
		expect(hasBearerToken(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
		expect(hasBearerToken(`bearer ${TOKEN}`, TOKEN)).toBe(true);
	});

	it('refuses anything else', () => {
		for (const header of [
			null,
			'',
			'Bearer',
			'Bearer ',
			TOKEN,
			`Basic ${TOKEN}`,
			`Bearer ${TOKEN}x`,
			`Bearer ${TOKEN.slice(0, -1)}`,
			`Bearer ${TOKEN} extra`
		]) {
			expect(hasBearerToken(header, TOKEN), String(header)).toBe(false);
		}
	});
});
