import { z } from 'zod';
import { cursorField, historyFilterFields } from '$lib/server/http/history-query';

const limitMessage = 'must be a whole number from 1 to 100';

export const transactionsQuery = z
	.object({
		limit: z.coerce
			.number({ error: limitMessage })
			.int(limitMessage)
			.min(1, limitMessage)
			.max(100, limitMessage)
			.default(50),
		cursor: cursorField,
		...historyFilterFields
	})
	.refine((q) => !q.from || !q.to || q.from <= q.to, {
		path: ['to'],
		message: 'must not be before from'
	});
