import { describe, expect, it } from 'vitest';
import { csvLine } from './csv';

describe('csvLine', () => {
	it('quotes text, doubles quotes, keeps numbers and ends with CRLF', () => {
		expect(csvLine(['a "quoted", text', -12, 0, null, true, 'line\nbreak'])).toBe(
			'"a ""quoted"", text",-12,0,,true,"line\nbreak"\r\n'
		);
	});

	it.each(['=HYPERLINK("http://evil")', '+1+1', '-2+3', '@SUM(A1)', '\tTAB', '\rCR'])(
		'defuses a formula in %j',
		(value) => {
			const cell = csvLine([value]).trimEnd();
			expect(cell.startsWith(`"'`)).toBe(true);
		}
	);

	it('leaves ordinary text and negative numbers alone', () => {
		expect(csvLine(['Reply in “Trip plans”', -5])).toBe('"Reply in “Trip plans”",-5\r\n');
	});
});
