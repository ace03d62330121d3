import { describe, expect, it } from 'vitest';
import { roomOf, utcDayOf } from './daily-limit';

describe('utcDayOf', () => {
	it('is the UTC day around the time, whatever the time of day', () => {
		expect(utcDayOf(new Date('2026-11-24T23:59:59.999Z'))).toEqual({
			start: new Date('2026-11-24T00:00:00Z'),
			end: new Date('2026-11-25T00:00:00Z')
		});
		expect(utcDayOf(new Date('2026-11-25T00:00:00Z')).start).toEqual(
			new Date('2026-11-25T00:00:00Z')
		);
	});
});

describe('roomOf', () => {
	const pool = (remaining: number, dailyLimit: number | null, frozen = false) => ({
		remainingCredits: remaining,
		dailyLimit,
		frozenAt: frozen ? new Date() : null
	});

	it('is all its credits without a daily limit', () => {
		expect(roomOf(pool(40, null), 0)).toBe(40);
		expect(roomOf(pool(40, null), 1000)).toBe(40);
	});

	it('is the limit less what it gave today, within its credits, never below 0', () => {
		expect(roomOf(pool(40, 10), 0)).toBe(10);
		expect(roomOf(pool(40, 10), 7)).toBe(3);
		expect(roomOf(pool(2, 10), 7)).toBe(2);
		expect(roomOf(pool(40, 10), 10)).toBe(0);
		expect(roomOf(pool(40, 10), 12)).toBe(0);
	});

	it('is 0 while frozen', () => {
		expect(roomOf(pool(40, null, true), 0)).toBe(0);
		expect(roomOf(pool(40, 10, true), 0)).toBe(0);
	});
});
