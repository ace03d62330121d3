import { describe, expect, it } from 'vitest';
import {
	declaredLengthOver,
	isPayloadTooLarge,
	parseBodySizeLimit,
	streamedBodyOver
} from './body-limit';
import { hasUnstorableText } from '../text';

describe('parseBodySizeLimit', () => {
	it.each([
		[undefined, 512 * 1024],
		['', 512 * 1024],
		['512K', 512 * 1024],
		['2m', 2 * 1024 ** 2],
		['1G', 1024 ** 3],
		['1000', 1000],
		['Infinity', Infinity]
	])('reads %j as %d bytes, like adapter-node', (value, bytes) => {
		expect(parseBodySizeLimit(value)).toBe(bytes);
	});

	it('gives NaN for nonsense', () => {
		expect(parseBodySizeLimit('lots')).toBeNaN();
	});
});

describe('declaredLengthOver', () => {
	const headers = (length?: string) => new Headers(length ? { 'content-length': length } : {});
	it('names a declared length over the limit', () => {
		expect(declaredLengthOver(headers('1001'), 1000)).toBe(1001);
	});
	it.each([undefined, '1000', '0', 'abc'])('lets %j through', (length) => {
		expect(declaredLengthOver(headers(length), 1000)).toBeNull();
	});
});

describe('streamedBodyOver', () => {
	const chunked = (...sizes: number[]) =>
		new Request('http://x/', {
			method: 'POST',
			body: new ReadableStream({
				start(controller) {
					for (const size of sizes) controller.enqueue(new Uint8Array(size));
					controller.close();
				}
			}),
			duplex: 'half'
		} as RequestInit);

	it('counts a chunked body and leaves the original readable', async () => {
		const request = chunked(400, 600);
		expect(await streamedBodyOver(request, 1000)).toBe(false);
		expect((await request.arrayBuffer()).byteLength).toBe(1000);
	});

	it('stops past the limit', async () => {
		expect(await streamedBodyOver(chunked(600, 600, 600), 1000)).toBe(true);
	});

	it('recognises adapter-node’s 413 stream error', async () => {
		const tooLarge = Object.assign(new Error('Payload Too Large'), { status: 413 });
		const request = new Request('http://x/', {
			method: 'POST',
			body: new ReadableStream({ start: (controller) => controller.error(tooLarge) }),
			duplex: 'half'
		} as RequestInit);
		expect(await streamedBodyOver(request, 1000)).toBe(true);
		expect(isPayloadTooLarge(new TypeError('wrapped', { cause: tooLarge }))).toBe(true);
		expect(isPayloadTooLarge(new Error('other'))).toBe(false);
	});
});

describe('hasUnstorableText', () => {
	it('finds NUL and lone surrogates in nested strings and keys', () => {
		expect(hasUnstorableText(['\ud800'])).toBe(true);
		expect(hasUnstorableText('😀')).toBe(false);
		expect(hasUnstorableText({ a: [{ b: 'x\0' }] })).toBe(true);
		expect(hasUnstorableText({ ['k\0']: 1 })).toBe(true);
		expect(hasUnstorableText({ a: ['fine', 1, null, true] })).toBe(false);
	});
});
