import {
	explorerTotals,
	listExplorerRows,
	type ExplorerPage,
	type ExplorerTotals
} from '$lib/server/admin/transactions';
import { requireAdmin } from '$lib/server/auth/access';
import { AppError } from '$lib/server/errors';
import { queryObject } from '$lib/server/http/history-query';
import { transactionTypes } from '$lib/server/db/schema';
import { runtime } from '$lib/server/runtime';
import { explorerPageQuery, toExplorerFilter } from '../../../api/admin/transactions/schema';
import type { PageServerLoad } from './$types';

const FILTER_KEYS = ['user', 'type', 'model', 'from', 'to', 'min', 'max'] as const;

/** The explorer page: the same query and domain calls as GET /api/admin/transactions. */
export const load: PageServerLoad = async ({ locals, url }) => {
	requireAdmin(locals, url);
	const params = queryObject(url.searchParams);
	// The form shows what was typed, even when it is wrong, next to the message saying why.
	const values = Object.fromEntries(FILTER_KEYS.map((key) => [key, params[key] ?? '']));
	const filterQuery = new URLSearchParams(
		FILTER_KEYS.filter((key) => values[key] !== '').map((key) => [key, values[key]])
	).toString();
	const base = {
		values,
		filterQuery,
		checked: values.type ? values.type.split(',') : [],
		allTypes: [...transactionTypes]
	};

	const parsed = explorerPageQuery.safeParse(params);
	if (!parsed.success) {
		const issue = parsed.error.issues[0];
		return {
			...base,
			error: `${String(issue.path[0])}: ${issue.message}`,
			page: null,
			totals: null
		};
	}
	const { database } = await runtime();
	const filter = toExplorerFilter(parsed.data);
	try {
		const [page, totals]: [ExplorerPage, ExplorerTotals] = await Promise.all([
			listExplorerRows(database.db, filter, {
				limit: parsed.data.limit,
				cursor: parsed.data.cursor
			}),
			explorerTotals(database.db, filter)
		]);
		return { ...base, error: null, page, totals, paged: parsed.data.cursor !== undefined };
	} catch (error) {
		if (error instanceof AppError && error.status === 400) {
			return { ...base, error: error.message, page: null, totals: null };
		}
		throw error;
	}
};
