import { z } from 'zod';
import type { ExplorerFilter } from '$lib/server/admin/transactions';
import { cursorField, historyFilterFields, toHistoryFilter } from '$lib/server/http/history-query';

const INT_MAX = 2_147_483_647;
const amountMessage = `must be a whole number from -${INT_MAX} to ${INT_MAX}, like -50`;

/** An empty form field means "no filter", as a GET form without JavaScript sends it. */
const optional = <T extends z.ZodType>(schema: T) =>
	z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

const amount = optional(
	z
		.string()
		.trim()
		.regex(/^-?\d{1,10}$/, amountMessage)
		.transform(Number)
		.pipe(z.number().min(-INT_MAX, amountMessage).max(INT_MAX, amountMessage))
);

const explorerFilterFields = {
	...historyFilterFields,
	user: optional(z.string().trim().min(1).max(320, 'must be a user id or an email address')),
	model: optional(z.string().trim().max(200, 'must be at most 200 characters')),
	min: amount,
	max: amount
};

type FilterFields = { from?: string; to?: string; min?: number; max?: number };

/** The range checks every explorer query shares, each naming the field to fix. */
function checkRanges(query: FilterFields, ctx: z.RefinementCtx) {
	if (query.from && query.to && query.from > query.to) {
		ctx.addIssue({ code: 'custom', path: ['to'], message: 'must not be before from' });
	}
	if (query.min !== undefined && query.max !== undefined && query.min > query.max) {
		ctx.addIssue({ code: 'custom', path: ['max'], message: 'must not be less than min' });
	}
}

/**
 * The admin explorer's filter (page, API and CSV export alike): `user` (id or exact email),
 * `type` (one or several, comma-separated or repeated), `model`, `from`/`to` (UTC days, both
 * included), `min`/`max` (signed amounts, both included).
 */
export const explorerFilterQuery = z.object(explorerFilterFields).superRefine(checkRanges);

const limitMessage = 'must be a whole number from 1 to 100';

/** The JSON API and the page: the filter plus a page size and the cursor of the next page. */
export const explorerPageQuery = z
	.object({
		...explorerFilterFields,
		limit: z.coerce
			.number({ error: limitMessage })
			.int(limitMessage)
			.min(1, limitMessage)
			.max(100, limitMessage)
			.default(50),
		cursor: cursorField
	})
	.superRefine(checkRanges);

export type ExplorerFilterQuery = z.infer<typeof explorerFilterQuery>;

/** The domain filter for a parsed query. */
export function toExplorerFilter(query: ExplorerFilterQuery): ExplorerFilter {
	return {
		...toHistoryFilter(query),
		user: query.user,
		model: query.model,
		minAmount: query.min,
		maxAmount: query.max
	};
}
