import { json } from '@sveltejs/kit';
import { publicCatalog } from '$lib/server/billing/public-catalog';
import { apiErrorResponse } from '$lib/server/http/errors';
import { runtime } from '$lib/server/runtime';
import type { RequestHandler } from './$types';

/** Public: the packs and plans on offer, with prices, credits, bonus, interval and limits. */
export const GET: RequestHandler = async ({ url, getClientAddress }) => {
	try {
		const { database, billing } = await runtime();
		const body = await publicCatalog(database.db, {
			address: getClientAddress(),
			query: Object.fromEntries(url.searchParams),
			catalog: billing.catalog
		});
		// The catalog is cached for minutes server-side; a minute in shared caches is safe.
		return json(body, { headers: { 'cache-control': 'public, max-age=60' } });
	} catch (error) {
		return apiErrorResponse(error);
	}
};
