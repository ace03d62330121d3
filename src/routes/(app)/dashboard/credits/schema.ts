import { z } from 'zod';
import { cursorField, historyFilterFields } from '$lib/server/http/history-query';

/** The dashboard's URL: the history filter (a GET form, so it works without JavaScript) and page. */
export const creditsPageQuery = z
	.object({ ...historyFilterFields, cursor: cursorField, before: cursorField })
	.refine((q) => !q.from || !q.to || q.from <= q.to, {
		path: ['to'],
		message: 'must not be before From'
	})
	.refine((q) => !(q.cursor && q.before), { path: ['before'], message: 'cannot go both ways' });
