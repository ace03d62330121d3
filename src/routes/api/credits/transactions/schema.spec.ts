import { describe, expect, it } from 'vitest';
import { transactionsQuery } from './schema';

describe('transactions query', () => {
	it('defaults to 50 rows, no cursor, every type', () => {
		expect(transactionsQuery.parse({})).toEqual({ limit: 50 });
	});

	it('reads a limit, a cursor, a comma-separated type list and a date range', () => {
		expect(
			transactionsQuery.parse({
				limit: '100',
				cursor: '2026-11-01T09:30:00.123456Z_42',
				type: 'usage, refund',
				from: '2026-11-01',
				to: '2026-11-30'
			})
		).toEqual({
			limit: 100,
			cursor: { time: '2026-11-01T09:30:00.123456Z', id: 42 },
			type: ['usage', 'refund'],
			from: '2026-11-01',
			to: '2026-11-30'
		});
	});

	it('accepts the first and last day of the supported years', () => {
		expect(transactionsQuery.parse({ from: '2000-01-01', to: '2999-12-31' })).toMatchObject({
			from: '2000-01-01',
			to: '2999-12-31'
		});
	});

	it('names the supported years when it refuses a date', () => {
		const result = transactionsQuery.safeParse({ from: '0000-01-01' });
		expect(result.error?.issues[0].message).toContain('2000-01-01 to 2999-12-31');
	});

	it('treats empty form fields as no filter', () => {
		expect(transactionsQuery.parse({ type: '', from: '', to: '', cursor: '' })).toEqual({
			limit: 50
		});
	});

	it.each([
		[{ limit: '0' }, 'limit'],
		[{ limit: '1e3' }, 'limit'],
		[{ cursor: '0' }, 'cursor'],
		[{ cursor: '42' }, 'cursor'],
		[{ cursor: '2026-11-01T09:30:00Z_42' }, 'cursor'],
		[{ cursor: '2026-13-01T09:30:00.000000Z_42' }, 'cursor'],
		[{ type: 'gift' }, 'type'],
		[{ type: 'usage,,bonus' }, 'type'],
		[{ from: '2026-02-30' }, 'from'],
		[{ from: '30.11.2026' }, 'from'],
		[{ to: '2026-11-31' }, 'to'],
		[{ from: '2026-11-02', to: '2026-11-01' }, 'to'],
		// Date.parse accepts these; PostgreSQL refuses them (or JavaScript cannot print them).
		[{ cursor: '2026-02-30T00:00:00.000000Z_5' }, 'cursor'],
		[{ cursor: '2026-11-01T24:00:00.000000Z_5' }, 'cursor'],
		[{ cursor: '0000-01-01T00:00:00.000000Z_5' }, 'cursor'],
		[{ cursor: '2026-11-01T09:30:00.000000Z_9999999999999999' }, 'cursor'],
		[{ from: '0000-01-01' }, 'from'],
		[{ from: '1999-12-31' }, 'from'],
		[{ from: '2026-01-01', to: '9999-12-31' }, 'to'],
		[{ to: '3000-01-01' }, 'to']
	])('refuses %o naming %s', (query, field) => {
		const result = transactionsQuery.safeParse(query);
		expect(result.success).toBe(false);
		expect(result.error?.issues[0].path[0]).toBe(field);
	});
});
