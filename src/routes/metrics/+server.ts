import type { RequestHandler } from './$types';
import { errorResponse } from '$lib/server/http/errors';
import { hasBearerToken, instanceMetrics } from '$lib/server/metrics';
import { runtime } from '$lib/server/runtime';

/**
 * Prometheus metrics of the whole instance (every worker of `npm start`). Off (404) unless
 * METRICS_TOKEN is set; then only `Authorization: Bearer <token>` reads them — never a query
 * parameter, which would end up in proxy logs and browser history.
 */
export const GET: RequestHandler = async ({ request, locals }) => {
	const { config } = await runtime();
	if (!config.metricsToken) {
		return errorResponse(404, 'not_found', 'Metrics are off: set METRICS_TOKEN to turn them on.');
	}
	if (!hasBearerToken(request.headers.get('authorization'), config.metricsToken)) {
		const refused = errorResponse(
			401,
			'unauthorized',
			'Send the metrics token as `Authorization: Bearer <METRICS_TOKEN>`.'
		);
		refused.headers.set('www-authenticate', 'Bearer realm="metrics"');
		return refused;
	}
	try {
		const { text, contentType } = await instanceMetrics();
		return new Response(text, {
			headers: { 'content-type': contentType, 'cache-control': 'no-store' }
		});
	} catch (error) {
		locals.log.error({ err: error }, '[metrics] scrape failed');
		return errorResponse(
			503,
			'metrics_unavailable',
			'The metrics could not be collected; try again.'
		);
	}
};
