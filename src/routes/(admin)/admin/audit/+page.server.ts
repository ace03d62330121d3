import { auditQuery, searchAudit } from '$lib/server/admin/audit-query';
import { requireAdmin } from '$lib/server/auth/access';
import { runtime } from '$lib/server/runtime';
import type { PageServerLoad } from './$types';

/** The audit log, newest first; the filters are a GET form, so links and the back button work. */
export const load: PageServerLoad = async ({ locals, url }) => {
	requireAdmin(locals, url);
	const values = {
		admin: url.searchParams.get('admin') ?? '',
		user: url.searchParams.get('user') ?? '',
		// Not a form field, but kept across pages when a link set it.
		limit: url.searchParams.get('limit') ?? ''
	};
	const query = auditQuery.safeParse(Object.fromEntries(url.searchParams));
	if (!query.success) {
		const issue = query.error.issues[0];
		return {
			values,
			error: `${String(issue.path[0] ?? 'query')}: ${issue.message}`,
			items: [],
			nextCursor: null
		};
	}
	const { database } = await runtime();
	const page = await searchAudit(database.db, query.data);
	return {
		values,
		error: null,
		items: page.items.map((item) => ({ ...item, details: JSON.stringify(item.details, null, 2) })),
		nextCursor: page.nextCursor
	};
};
