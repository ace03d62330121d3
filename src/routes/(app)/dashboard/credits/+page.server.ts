import { redirect } from '@sveltejs/kit';
import { and, eq, inArray } from 'drizzle-orm';
import { usageByDay } from '$lib/server/credits';
import { allocationsOf } from '$lib/server/credits/allocations-view';
import { historyPage } from '$lib/server/credits/history';
import { chat, transactionTypes } from '$lib/server/db/schema';
import { requestCreditsOverview } from '$lib/server/http/credits-overview';
import { toHistoryFilter } from '$lib/server/http/history-query';
import { runtime } from '$lib/server/runtime';
import type { HistoryFilterValues, Section, TransactionType } from '$lib/types';
import { creditsPageQuery } from './schema';
import type { PageServerLoad } from './$types';
import { log } from '$lib/server/log';

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
	// A refused filter keeps what the reader typed in the form, with the reason beside the field.
	const raw = (key: string) => (typeof params[key] === 'string' ? params[key].slice(0, 10) : '');
	const filter: HistoryFilterValues = parsed.success
		? {
				type: (query.type?.length === 1 ? query.type[0] : '') as TransactionType | '',
				from: query.from || '',
				to: query.to || ''
			}
		: {
				type: (transactionTypes as readonly string[]).includes(params.type ?? '')
					? (params.type as TransactionType)
					: '',
				from: raw('from'),
				to: raw('to')
			};
	const filterField = parsed.success ? null : fieldOf(parsed.error.issues[0]);

	const now = new Date();
	const { database, models, billing } = await runtime();
	const db = database.db;
	// Independent reads in parallel; each section shows its own error if its read fails.
	const [overview, history, usage, allocations] = await Promise.all([
		section(locals.requestId, () => requestCreditsOverview(locals, db, user.id)),
		section(locals.requestId, () =>
			historyPage(db, user.id, {
				...toHistoryFilter(query),
				cursor: 'cursor' in query ? query.cursor : undefined,
				before: 'before' in query ? query.before : undefined,
				limit: HISTORY_PAGE_SIZE
			})
		),
		section(locals.requestId, () => usageByDay(db, user.id, { days: 30, now })),
		section(locals.requestId, () => allocationsOf(db, user.id))
	]);

	// Links to chats that still exist; a deleted chat's replies stay in the ledger without one.
	const chatIds = history.ok
		? [
				...new Set(
					history.data.items
						.map((row) => row.metadata.chatId)
						.filter((id): id is string => typeof id === 'string')
				)
			]
		: [];
	const liveChatIds = chatIds.length
		? (
				await db
					.select({ id: chat.id })
					.from(chat)
					.where(and(eq(chat.userId, user.id), inArray(chat.id, chatIds)))
			).map((row) => row.id)
		: [];
	const modelLabels = Object.fromEntries(models.models.map((m) => [m.id, m.label]));

	return {
		loadedAt: now.toISOString(),
		filter,
		filterError,
		filterField,
		liveChatIds,
		modelLabels,
		billingMode: billing.mode,
		paged: parsed.success && Boolean(query.cursor || query.before),
		overview,
		history,
		usage,
		allocations
	};
};

async function section<T>(requestId: string, read: () => Promise<T>): Promise<Section<T>> {
	try {
		return { ok: true, data: await read() };
	} catch (error) {
		log.error({ requestId, err: error }, `[${requestId}] credits dashboard section failed`);
		return { ok: false, message: `This could not be loaded (reference ${requestId}).` };
	}
}

function fieldOf(issue: { path: PropertyKey[] }): 'type' | 'from' | 'to' | null {
	const field = String(issue.path[0]);
	return field === 'type' || field === 'from' || field === 'to' ? field : null;
}

function describeIssue(issue: { path: PropertyKey[]; message: string }): string {
	const field = String(issue.path[0] ?? 'filter');
	const label =
		field === 'from' ? 'From' : field === 'to' ? 'To' : field === 'type' ? 'Type' : 'Page';
	return `${label}: ${issue.message}. Showing the unfiltered history instead.`;
}
