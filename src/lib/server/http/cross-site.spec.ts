import { describe, expect, it } from 'vitest';
import { isCrossSiteWrite } from './cross-site';

const request = (method: string, site?: string) =>
	new Request('http://localhost/api/chat/x/stop', {
		method,
		headers: site ? { 'sec-fetch-site': site } : {}
	});

describe('isCrossSiteWrite', () => {
	it('refuses a write another site started', () => {
		expect(isCrossSiteWrite(request('POST', 'cross-site'))).toBe(true);
		expect(isCrossSiteWrite(request('DELETE', 'cross-site'))).toBe(true);
	});

	it('lets through reads, our own pages, typed addresses and servers without the header', () => {
		expect(isCrossSiteWrite(request('GET', 'cross-site'))).toBe(false);
		expect(isCrossSiteWrite(request('POST', 'same-origin'))).toBe(false);
		expect(isCrossSiteWrite(request('POST', 'same-site'))).toBe(false);
		expect(isCrossSiteWrite(request('POST', 'none'))).toBe(false);
		expect(isCrossSiteWrite(request('POST'))).toBe(false);
	});
});
