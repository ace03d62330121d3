import { redirect } from '@sveltejs/kit';
import { listTransactions, usageByDay } from '$lib/server/credits';
import { requestCreditsOverview } from '$lib/server/http/credits-overview';
import { toHistoryFilter } from '$lib/server/http/history-query';
import { runtime } from '$lib/server/runtime';
import type { HistoryFilterValues, Section, TransactionType } from '$lib/types';
import { creditsPageQuery } from './schema';
import type { PageServerLoad } from './$types';

const HISTORY_PAGE_SIZE = 25;

export const load: PageServerLoad = async ({ locals, url, depends }) => {
	const user = locals.user;
	if (!user) redirect(303, `/login?redirectTo=${encodeURIComponent(url.pathname + url.search)}`);
	// The checkout return polls with invalidate('app:credits'); so does anything that moves credits.
	depends('app:credits');

	const params = Object.fromEntries(url.searchParams);
	const parsed = creditsPageQuery.safeParse(params);
	const query = parsed.success ? parsed.data : {};
	const filterError = parsed.success ? null : describeIssue(parsed.error.issues[0]);
	const filter: HistoryFilterValues = {
		type: (parsed.success && query.type?.length === 1 ? query.type[0] : '') as TransactionType | '',
		from: (parsed.success && query.from) || '',
		to: (parsed.success && query.to) || ''
	};

	const now = new Date();
	const { database } = await runtime();
	const db = database.db;
	// Three independent reads in parallel; each section shows its own error if its read fails.
	const [overview, history, usage] = await Promise.all([
		section(locals.requestId, () => requestCreditsOverview(locals, db, user.id)),
		section(locals.requestId, () =>
			listTransactions(db, user.id, {
				...toHistoryFilter(query),
				cursor: 'cursor' in query ? query.cursor : undefined,
				limit: HISTORY_PAGE_SIZE
			})
		),
		section(locals.requestId, () => usageByDay(db, user.id, { days: 30, now }))
	]);

	return {
		loadedAt: now.toISOString(),
		filter,
		filterError,
		paged: parsed.success && Boolean(query.cursor),
		overview,
		history,
		usage
	};
};

async function section<T>(requestId: string, read: () => Promise<T>): Promise<Section<T>> {
	try {
		return { ok: true, data: await read() };
	} catch (error) {
		console.error(`[${requestId}] credits dashboard section failed`, error);
		return { ok: false, message: `This could not be loaded (reference ${requestId}).` };
	}
}

function describeIssue(issue: { path: PropertyKey[]; message: string }): string {
	const field = String(issue.path[0] ?? 'filter');
	const label =
		field === 'from' ? 'From' : field === 'to' ? 'To' : field === 'type' ? 'Type' : 'Page';
	return `${label}: ${issue.message}. Showing the unfiltered history instead.`;
}
