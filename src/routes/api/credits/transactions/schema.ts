import { z } from 'zod';
import { transactionTypes } from '$lib/server/db/schema';

export const transactionsQuery = z.object({
	limit: z.coerce
		.number({ error: 'must be a whole number from 1 to 100' })
		.int('must be a whole number from 1 to 100')
		.min(1, 'must be a whole number from 1 to 100')
		.max(100, 'must be a whole number from 1 to 100')
		.default(50),
	cursor: z
		.string()
		.regex(/^[1-9][0-9]{0,15}$/, 'must be a nextCursor value from a previous page')
		.transform(Number)
		.optional(),
	// One type or several, comma-separated: ?type=usage or ?type=purchase,subscription
	type: z
		.string()
		.transform((value) => value.split(',').map((t) => t.trim()))
		.pipe(
			z.array(z.enum(transactionTypes, { error: `must be one of ${transactionTypes.join(', ')}` }))
		)
		.optional()
});
