import { describe, expect, it } from 'vitest';
import { packageExpiry, proratedCredits, refundedCredits, SUBSCRIPTION_GRACE_DAYS } from './orders';

const now = new Date('2026-11-15T12:00:00Z');
const DAY = 86_400_000;
const base = { periodEnd: null, interval: null, intervalCount: 1, now } as const;

describe('packageExpiry', () => {
	it('purchases: validity_period days from now, absent or 0 = never', () => {
		expect(packageExpiry({ ...base, source: 'purchase', validityDays: null })).toBeNull();
		expect(packageExpiry({ ...base, source: 'purchase', validityDays: 0 })).toBeNull();
		expect(packageExpiry({ ...base, source: 'purchase', validityDays: 30 })).toEqual(
			new Date(now.getTime() + 30 * DAY)
		);
	});

	it('subscriptions: validity_period wins when given (0 = never)', () => {
		const periodEnd = new Date('2026-12-15T12:00:00Z');
		const sub = { ...base, source: 'subscription', periodEnd } as const;
		expect(packageExpiry({ ...sub, validityDays: 10 })).toEqual(new Date(now.getTime() + 10 * DAY));
		expect(packageExpiry({ ...sub, validityDays: 0 })).toBeNull();
	});

	it('subscriptions without it: the end of the paid period plus the grace days', () => {
		const periodEnd = new Date('2026-12-15T12:00:00Z');
		expect(
			packageExpiry({ ...base, source: 'subscription', validityDays: null, periodEnd })
		).toEqual(new Date(periodEnd.getTime() + SUBSCRIPTION_GRACE_DAYS * DAY));
		expect(SUBSCRIPTION_GRACE_DAYS).toBe(7);
	});

	it('subscriptions without a (future) period end: one interval from now plus the grace days', () => {
		const sub = { ...base, source: 'subscription', validityDays: null } as const;
		expect(packageExpiry(sub)).toEqual(new Date('2026-12-22T12:00:00Z'));
		expect(packageExpiry({ ...sub, periodEnd: new Date('2026-11-01T00:00:00Z') })).toEqual(
			new Date('2026-12-22T12:00:00Z')
		);
		expect(packageExpiry({ ...sub, interval: 'year' })).toEqual(new Date('2027-11-22T12:00:00Z'));
		expect(packageExpiry({ ...sub, interval: 'week', intervalCount: 2 })).toEqual(
			new Date('2026-12-06T12:00:00Z')
		);
	});
});

describe('refundedCredits: floor(credits × (refunded + refunded tax) / total)', () => {
	const order = (refunded: number, tax: number, status = 'partially_refunded') => ({
		status,
		total_amount: 1200,
		refunded_amount: refunded,
		refunded_tax_amount: tax
	});

	it.each([
		[100, order(0, 0), 0],
		[100, order(500, 100), 50],
		[100, order(400, 0), 33],
		[100, order(10, 0), 0],
		[3, order(500, 100), 1],
		[100, order(1000, 200), 100],
		[100, order(1, 0, 'refunded'), 100],
		[100, order(5000, 0), 100]
	])('%i credits, %j → %i', (credits, o, expected) => {
		expect(refundedCredits(credits, o)).toBe(expected);
	});

	it('is exact beyond 2^53 (credits × cents)', () => {
		const big = {
			status: 'partially_refunded',
			total_amount: 999_999_999,
			refunded_amount: 999_999_998,
			refunded_tax_amount: 0
		};
		expect(refundedCredits(1_000_000_000, big)).toBe(999_999_998);
	});

	it('a free order refunds nothing unless Polar marks it refunded', () => {
		const free = {
			status: 'partially_refunded',
			total_amount: 0,
			refunded_amount: 0,
			refunded_tax_amount: 0
		};
		expect(refundedCredits(100, free)).toBe(0);
		expect(refundedCredits(100, { ...free, status: 'refunded' })).toBe(100);
	});
});

describe('proratedCredits', () => {
	const period = {
		current_period_start: '2027-04-01T00:00:00Z',
		current_period_end: '2027-05-01T00:00:00Z'
	};
	it.each([
		['2027-04-01T00:00:00Z', 1000],
		['2027-04-16T00:00:00Z', 500],
		['2027-04-15T00:00:00Z', 533],
		['2027-04-30T23:00:00Z', 1],
		['2027-05-01T00:00:00Z', 0],
		['2027-06-01T00:00:00Z', 0],
		['2027-03-01T00:00:00Z', 1000]
	])('at %s grants %i of 1,000', (now, expected) => {
		expect(proratedCredits(1000, period, new Date(now))).toBe(expected);
	});

	it('grants everything when the order does not say the period', () => {
		expect(proratedCredits(1000, null, new Date())).toBe(1000);
		expect(proratedCredits(1000, { current_period_end: '2027-05-01T00:00:00Z' }, new Date())).toBe(
			1000
		);
	});
});
