import { z } from 'zod';
import { MAX_PAGE_SIZE } from '$lib/server/admin/users';
import { searchQueryField } from '$lib/server/http/admin-input';

const limitMessage = `must be a whole number from 1 to ${MAX_PAGE_SIZE}`;

/** `?q=<part of email or name>&cursor=<nextCursor>&limit=1..100`. */
export const usersQuery = z.object({
	q: searchQueryField.optional(),
	// A cursor is an email shown on the previous page; emails are far shorter than this.
	cursor: z.string().min(1).max(320, 'must be a nextCursor value from a previous page').optional(),
	limit: z.coerce
		.number({ error: limitMessage })
		.int(limitMessage)
		.min(1, limitMessage)
		.max(MAX_PAGE_SIZE, limitMessage)
		.default(50)
});
