import { describe, expect, it } from 'vitest';
import { transactionsQuery } from './schema';

describe('transactions query', () => {
	it('defaults to 50 rows, no cursor, every type', () => {
		expect(transactionsQuery.parse({})).toEqual({ limit: 50 });
	});

	it('reads a limit, a cursor and a comma-separated type list', () => {
		expect(transactionsQuery.parse({ limit: '100', cursor: '42', type: 'usage, refund' })).toEqual({
			limit: 100,
			cursor: 42,
			type: ['usage', 'refund']
		});
	});

	it.each([
		{ limit: '0' },
		{ limit: '1e3' },
		{ cursor: '0' },
		{ cursor: '12345678901234567' },
		{ type: '' }
	])('refuses %o', (query) => {
		expect(transactionsQuery.safeParse(query).success).toBe(false);
	});
});
