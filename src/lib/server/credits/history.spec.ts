import { describe, expect, it } from 'vitest';
import { isHistoryTime, parseCursor } from './history';

describe('isHistoryTime', () => {
	it.each(['2026-11-30', '2000-01-01', '2999-12-31', '2028-02-29', '2026-11-01T09:30:00.123456Z'])(
		'accepts %s',
		(value) => expect(isHistoryTime(value)).toBe(true)
	);

	it.each([
		'2026-02-30',
		'2027-02-29',
		'2026-11-31',
		'0000-01-01',
		'1999-12-31',
		'3000-01-01',
		'9999-12-31',
		'2026-11-01T24:00:00.000000Z',
		'2026-11-01T09:60:00.000000Z',
		'not a date'
	])('refuses %s', (value) => expect(isHistoryTime(value)).toBe(false));
});

describe('parseCursor', () => {
	it('reads a cursor the history wrote', () => {
		expect(parseCursor('2026-11-01T09:30:00.123456Z_4711')).toEqual({
			time: '2026-11-01T09:30:00.123456Z',
			id: 4711
		});
	});

	it.each([
		'2026-02-30T00:00:00.000000Z_5',
		'2026-11-01T09:30:00.123456Z_9007199254740992',
		'2026-11-01T09:30:00.123456Z_0',
		'2026-11-01T09:30:00Z_5'
	])('refuses %s', (value) => expect(parseCursor(value)).toBeNull());
});
