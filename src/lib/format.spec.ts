import { describe, expect, it } from 'vitest';
import { formatCount, formatDate, formatDateTime, formatShortDate, formatSigned } from './format';

describe('dashboard formatting', () => {
	it('shows dates and times in UTC', () => {
		expect(formatDate('2026-12-01T23:30:00.000Z')).toBe('1 Dec 2026');
		expect(formatShortDate('2026-12-01T23:30:00.000Z')).toBe('1 Dec');
		expect(formatDateTime('2026-12-01T09:05:00.000Z')).toBe('1 Dec 2026, 09:05');
	});

	it('signs amounts with a plus or a real minus', () => {
		expect(formatSigned(1200)).toBe('+1,200');
		expect(formatSigned(-5)).toBe('−5');
	});
});

describe('formatCount', () => {
	it('says one thing in the singular and other counts in the plural', () => {
		expect(formatCount(1, 'user')).toBe('1 user');
		expect(formatCount(0, 'user')).toBe('0 users');
		expect(formatCount(1234, 'ledger row')).toBe('1,234 ledger rows');
		expect(formatCount(2, 'reply', 'replies')).toBe('2 replies');
	});
});
