import type { HttpClient } from './http-client';
import { discoverRoutes, routePath, type HttpMethod, type RouteParam } from './route-discovery';

/**
 * The requests the route walker sends for the routes under src/routes, and how it judges the
 * answers. The test (tests/security/route-walker.test.ts) supplies the fixtures and the principals.
 */

/** Where a path lives, which decides who may see it. */
export type Area = 'admin' | 'dashboard' | 'api' | 'public-api' | 'public';

/** APIs that answer signed-out callers on purpose (mirrors `isPublicApi` in hooks.server.ts). */
const PUBLIC_API_PREFIXES = ['/api/health', '/api/auth/', '/api/webhooks/', '/api/credits/catalog'];

const under = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}/`);

export function areaOf(path: string): Area {
	if (under(path, '/admin') || under(path, '/api/admin')) return 'admin';
	if (under(path, '/dashboard')) return 'dashboard';
	if (under(path, '/api')) {
		return PUBLIC_API_PREFIXES.some((p) => path === p || path.startsWith(p)) ? 'public-api' : 'api';
	}
	return 'public';
}

/**
 * The `x-sveltekit-invalidated` values a client sends to skip layout loads: one digit per node
 * (root layout, nested layouts…, page), `1` = run it; `_` separates layouts from the page. The
 * first entry is a plain `__data.json`.
 */
export const INVALIDATED_VARIANTS = ['', '001', '01', '1', '0_1'];

export type ProbeKind = 'page' | 'data' | 'action' | 'endpoint';

export interface Probe {
	kind: ProbeKind;
	method: HttpMethod;
	/** Path and query, as sent. */
	url: string;
	/** The route's URL path, without `__data.json` or query. */
	path: string;
	area: Area;
	routeId: string;
	headers: Record<string, string>;
	body?: string;
	/** What `label` prints: `GET /admin/webhooks/__data.json?x-sveltekit-invalidated=001`. */
	label: string;
}

export interface ProbeFixtures {
	/** Param values by route id, then param name; checked before `shared`. */
	byRoute: Record<string, Record<string, string>>;
	/** Param values by name, for every route. */
	shared: Record<string, string>;
	/** Form fields for an action, by `<route id>?/<action>` or by action name; default `defaultForm`. */
	forms: Record<string, Record<string, string>>;
	defaultForm: () => Record<string, string>;
	/** JSON bodies for an endpoint method, by `<METHOD> <route id>`; default `{}`. */
	bodies: Record<string, () => unknown>;
}

export interface RoutePlan {
	probes: Probe[];
	/** `<route id>: [param]` for every param the fixtures cannot fill. */
	unmapped: string[];
	routeCount: number;
}

/** Every request the walker sends for every route under `routesDir`, per principal. */
export function planProbes(routesDir: string, fixtures: ProbeFixtures): RoutePlan {
	const routes = discoverRoutes(routesDir);
	const probes: Probe[] = [];
	const unmapped: string[] = [];
	for (const route of routes) {
		const fill = (param: RouteParam) => {
			const value = fixtures.byRoute[route.id]?.[param.name] ?? fixtures.shared[param.name];
			if (value === undefined) {
				unmapped.push(`${route.id}: [${param.name}]`);
				return `unmapped-${param.name}`;
			}
			return value;
		};
		const path = routePath(route.id, fill);
		const base = { path, area: areaOf(path), routeId: route.id };
		if (route.page) {
			probes.push({
				...base,
				kind: 'page',
				method: 'GET',
				url: path,
				headers: { accept: 'text/html' },
				label: `GET ${path}`
			});
			if (path !== '/') {
				// The same route spelled differently (`/%61dmin`): a guard that compares the raw
				// path with a prefix misses it, while the router decodes it and serves the page.
				for (const url of [
					respell(path),
					`${respell(path)}/__data.json?x-sveltekit-invalidated=001`
				]) {
					probes.push({
						...base,
						kind: url.includes('__data.json') ? 'data' : 'page',
						method: 'GET',
						url,
						headers: url.includes('__data.json') ? {} : { accept: 'text/html' },
						label: `GET ${url}`
					});
				}
			}
			const dataPath = path === '/' ? '/__data.json' : `${path}/__data.json`;
			for (const variant of INVALIDATED_VARIANTS) {
				const url = variant ? `${dataPath}?x-sveltekit-invalidated=${variant}` : dataPath;
				probes.push({
					...base,
					kind: 'data',
					method: 'GET',
					url,
					headers: {},
					label: `GET ${url}`
				});
			}
			for (const action of route.actions) {
				// `?/default` is refused by SvelteKit: the default action is a plain POST.
				const url = action === 'default' ? path : `${path}?/${action}`;
				const fields =
					fixtures.forms[`${route.id}?/${action}`] ??
					fixtures.forms[action] ??
					fixtures.defaultForm();
				const body = new URLSearchParams(fields).toString();
				const form = { 'content-type': 'application/x-www-form-urlencoded' };
				probes.push(
					{
						...base,
						kind: 'action',
						method: 'POST',
						url,
						headers: { ...form, accept: 'text/html' },
						body,
						label: `POST ${url} (form)`
					},
					{
						// What `use:enhance` sends: the answer is JSON and redirects are not followed.
						...base,
						kind: 'action',
						method: 'POST',
						url,
						headers: { ...form, accept: 'application/json', 'x-sveltekit-action': 'true' },
						body,
						label: `POST ${url} (enhanced)`
					}
				);
			}
		}
		for (const method of route.methods) {
			const body =
				method === 'GET' ? undefined : (fixtures.bodies[`${method} ${route.id}`] ?? (() => ({})))();
			probes.push({
				...base,
				kind: 'endpoint',
				method,
				url: path,
				headers: {
					accept: 'application/json',
					...(body === undefined ? {} : { 'content-type': 'application/json' })
				},
				body: body === undefined ? undefined : JSON.stringify(body),
				label: `${method} ${path}`
			});
		}
	}
	return { probes, unmapped: [...new Set(unmapped)], routeCount: routes.length };
}

/** The path with the first letter of its first segment percent-encoded: `/admin` -> `/%61dmin`. */
export function respell(path: string): string {
	const hex = path.charCodeAt(1).toString(16).toUpperCase().padStart(2, '0');
	return `/%${hex}${path.slice(2)}`;
}

export interface Answer {
	status: number;
	location: string | null;
	contentType: string;
	body: string;
}

/** Sends one probe on this client and reads the whole answer (streams included). */
export async function send(client: HttpClient, probe: Probe): Promise<Answer> {
	const response = await client.request(probe.url, {
		method: probe.method,
		headers: probe.headers,
		body: probe.body
	});
	return {
		status: response.status,
		location: response.headers.get('location'),
		contentType: response.headers.get('content-type') ?? '',
		body: await response.text()
	};
}

/** Runs `work` over `items` with at most `limit` at a time, keeping the order of results. */
export async function pool<T, R>(
	items: T[],
	limit: number,
	work: (item: T) => Promise<R>
): Promise<R[]> {
	const results: R[] = new Array(items.length);
	let next = 0;
	const worker = async () => {
		while (next < items.length) {
			const index = next++;
			results[index] = await work(items[index]);
		}
	};
	await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
	return results;
}

/**
 * Where this answer sends the client, or null when it is no redirect. SvelteKit answers a
 * redirect to a `__data.json` or enhanced-action request (even one a hook returned) with
 * 200 `{"type":"redirect","location":…}` so the client router can follow it: that counts too.
 */
export function redirectOf(answer: Answer): string | null {
	if ([301, 302, 303, 307, 308].includes(answer.status)) return answer.location ?? '';
	if (answer.status !== 200 || !answer.contentType.includes('application/json')) return null;
	try {
		const body = JSON.parse(answer.body);
		return body?.type === 'redirect' && typeof body.location === 'string' ? body.location : null;
	} catch {
		return null;
	}
}

/** A short, one-line view of an answer for failure messages. */
export function summarize(answer: Answer): string {
	const where = answer.location ? ` -> ${answer.location}` : '';
	const body = answer.body.replace(/\s+/g, ' ').slice(0, 160);
	return `${answer.status}${where} ${body}`;
}
