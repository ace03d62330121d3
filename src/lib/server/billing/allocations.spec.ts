import { describe, expect, it } from 'vitest';
import { addMonths, allocationExpiry, monthStart } from './allocations';

const d = (iso: string) => new Date(iso);

describe('addMonths', () => {
	it.each([
		['2027-01-15T10:00:00Z', 1, '2027-02-15T10:00:00.000Z'],
		['2027-01-31T10:00:00Z', 1, '2027-02-28T10:00:00.000Z'],
		['2028-01-31T10:00:00Z', 1, '2028-02-29T10:00:00.000Z'],
		['2027-01-31T10:00:00Z', 2, '2027-03-31T10:00:00.000Z'],
		['2027-08-31T00:00:00Z', 1, '2027-09-30T00:00:00.000Z'],
		['2027-12-15T00:00:00Z', 1, '2028-01-15T00:00:00.000Z'],
		['2027-05-31T23:59:59.999Z', 12, '2028-05-31T23:59:59.999Z'],
		['2027-01-01T00:00:00Z', 1200, '2127-01-01T00:00:00.000Z']
	])('%s + %i months = %s', (start, months, expected) => {
		expect(addMonths(d(start), months).toISOString()).toBe(expected);
	});
});

describe('monthly allocation dates', () => {
	const start = d('2027-01-31T10:00:00Z');

	it('counts every month from the start, so a short month does not shift the rest', () => {
		expect(monthStart(start, 1)).toEqual(start);
		expect(monthStart(start, 2).toISOString()).toBe('2027-02-28T10:00:00.000Z');
		expect(monthStart(start, 3).toISOString()).toBe('2027-03-31T10:00:00.000Z');
	});

	it('lets a month last until the next starts plus 7 days, the last until the period end', () => {
		expect(allocationExpiry(start, 1, 12).toISOString()).toBe('2027-03-07T10:00:00.000Z');
		expect(allocationExpiry(start, 11, 12).toISOString()).toBe('2028-01-07T10:00:00.000Z');
		expect(allocationExpiry(start, 12, 12).toISOString()).toBe('2028-01-31T10:00:00.000Z');
	});
});
