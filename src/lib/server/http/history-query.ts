import { z } from 'zod';
import { HISTORY_YEARS, isHistoryTime, parseCursor, type HistoryFilter } from '../credits';
import { transactionTypes } from '../db/schema';

const DAY = 86_400_000;

const { min, max } = HISTORY_YEARS;

const isoDate = z
	.string()
	.regex(/^\d{4}-\d\d-\d\d$/, 'must be a date like 2026-11-30')
	.refine(
		isHistoryTime,
		`must be a real calendar date from ${min}-01-01 to ${max}-12-31, like 2026-11-30`
	);

/** An empty form field means "no filter", as a GET form without JavaScript sends it. */
const optional = <T extends z.ZodType>(schema: T) =>
	z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

/**
 * The history filter shared by the dashboard page, its CSV export and the JSON API:
 * `?type=usage` (or `usage,refund`), `?from=2026-11-01&to=2026-11-30` (UTC days, both included).
 */
export const historyFilterFields = {
	type: optional(
		z
			.string()
			.transform((value) => value.split(',').map((t) => t.trim()))
			.pipe(
				z.array(
					z.enum(transactionTypes, { error: `must be one of ${transactionTypes.join(', ')}` })
				)
			)
	),
	from: optional(isoDate),
	to: optional(isoDate)
};

export const historyFilterQuery = z
	.object(historyFilterFields)
	.refine((q) => !q.from || !q.to || q.from <= q.to, {
		path: ['to'],
		message: 'must not be before from'
	});

export type HistoryFilterQuery = z.infer<typeof historyFilterQuery>;

export const cursorField = optional(
	z.string().transform((value, ctx) => {
		const cursor = parseCursor(value);
		if (!cursor) {
			ctx.addIssue({
				code: 'custom',
				message: 'must be a nextCursor value from a previous page'
			});
			return z.NEVER;
		}
		return cursor;
	})
);

/**
 * A query string as an object for a zod schema. A repeated key (`type=usage&type=refund`, as a
 * GET form's checkboxes send it) is joined with commas, the API's own spelling for several.
 */
export function queryObject(params: URLSearchParams): Record<string, string> {
	const object: Record<string, string> = {};
	for (const key of new Set(params.keys()))
		object[key] = params
			.getAll(key)
			.filter((value) => value !== '')
			.join(',');
	return object;
}

/** The ledger's filter for a parsed query: whole UTC days, `to` included. */
export function toHistoryFilter(query: HistoryFilterQuery): HistoryFilter {
	return {
		types: query.type,
		from: query.from ? new Date(`${query.from}T00:00:00Z`) : undefined,
		to: query.to ? new Date(Date.parse(`${query.to}T00:00:00Z`) + DAY) : undefined
	};
}
