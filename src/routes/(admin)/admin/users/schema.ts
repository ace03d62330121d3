import { z } from 'zod';
import { searchQueryField } from '$lib/server/http/admin-input';

/** The users page's URL: `?q=` from its GET form and `?cursor=` from the next-page link. */
export const usersPageQuery = z.object({
	q: searchQueryField.optional(),
	cursor: z.string().min(1).max(320).optional()
});
