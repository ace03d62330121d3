import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { models } from '@polar-sh/sdk/2026-10';

/**
 * A local stand-in for the Polar API (2026-10): the endpoints the app calls, over real HTTP with
 * Polar's JSON shapes (snake_case, page/limit pagination with `pagination.max_page`), so the real
 * `@polar-sh/sdk` runs against it unmodified via POLAR_API_URL.
 */
export interface RecordedRequest {
	method: string;
	path: string;
	query: URLSearchParams;
	headers: IncomingMessage['headers'];
	body: unknown;
}

export interface PolarApiServer {
	url: string;
	token: string;
	requests: RecordedRequest[];
	products: models.Product[];
	orders: models.Order[];
	/** External ids Polar knows a customer for (checkout completed at least once). */
	customers: Set<string>;
	/** Answer every request with this status (e.g. 500) until set back to null. */
	failWith: number | null;
	addProduct(input: ProductInput): models.Product;
	close(): Promise<void>;
}

export interface ProductInput {
	name: string;
	priceAmount: number;
	metadata: Record<string, string | number | boolean>;
	recurringInterval?: 'month' | 'year' | null;
	description?: string | null;
	isArchived?: boolean;
	visibility?: 'public' | 'private' | 'draft';
}

export async function startPolarApiServer(token = 'polar_oat_test_token'): Promise<PolarApiServer> {
	const state: PolarApiServer = {
		url: '',
		token,
		requests: [],
		products: [],
		orders: [],
		customers: new Set(),
		failWith: null,
		addProduct: (input) => {
			const product = productOf(input);
			state.products.push(product);
			return product;
		},
		close: () => new Promise((resolve) => server.close(() => resolve()))
	};

	const server = createServer(async (request, response) => {
		const url = new URL(request.url ?? '/', 'http://polar.local');
		const text = await readBody(request);
		let body: unknown;
		try {
			body = text ? JSON.parse(text) : undefined;
		} catch {
			return send(response, 400, { detail: 'Invalid JSON' });
		}
		state.requests.push({
			method: request.method ?? 'GET',
			path: url.pathname,
			query: url.searchParams,
			headers: request.headers,
			body
		});
		if (state.failWith) return send(response, state.failWith, { detail: 'Simulated failure' });
		if (request.headers.authorization !== `Bearer ${state.token}`) {
			return send(response, 401, { error: 'Unauthorized', detail: 'Invalid token' });
		}
		route(state, request.method ?? 'GET', url, body, response);
	});
	server.keepAliveTimeout = 1;
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	return state;
}

function route(
	state: PolarApiServer,
	method: string,
	url: URL,
	body: unknown,
	response: ServerResponse
): void {
	const path = url.pathname;
	const productMatch = /^\/v1\/products\/([^/]+)$/.exec(path);
	if (method === 'GET' && path === '/v1/products/') {
		let items = state.products;
		const archived = url.searchParams.get('is_archived');
		if (archived !== null) items = items.filter((p) => String(p.is_archived) === archived);
		const visibility = url.searchParams.getAll('visibility');
		if (visibility.length) items = items.filter((p) => visibility.includes(p.visibility));
		return send(response, 200, page(items, url));
	}
	if (method === 'POST' && path === '/v1/products/') {
		const input = body as models.ProductCreateOneTime & { recurring_interval?: string | null };
		const product = state.addProduct({
			name: input.name,
			description: input.description ?? null,
			metadata: input.metadata ?? {},
			priceAmount: (input.prices[0] as models.ProductPriceFixedCreate).price_amount,
			recurringInterval: (input.recurring_interval as 'month' | 'year' | null) ?? null
		});
		return send(response, 201, product);
	}
	if (method === 'PATCH' && productMatch) {
		const product = state.products.find((p) => p.id === productMatch[1]);
		if (!product) return notFound(response);
		const update = body as models.ProductUpdate;
		if (update.name) product.name = update.name;
		if (update.description !== undefined) product.description = update.description;
		if (update.metadata) product.metadata = update.metadata;
		const newPrice = update.prices?.find((p) => 'amount_type' in p) as
			models.ProductPriceFixedCreate | undefined;
		if (newPrice) {
			for (const p of product.prices) (p as models.ProductPriceFixed).is_archived = true;
			product.prices.push(priceOf(product.id, newPrice.price_amount));
		}
		return send(response, 200, product);
	}
	if (method === 'POST' && path === '/v1/checkouts/') {
		const input = body as models.CheckoutCreate;
		const id = `chk_${randomUUID()}`;
		return send(response, 201, {
			id,
			status: 'open',
			url: `https://sandbox.polar.sh/checkout/${id}`,
			success_url: input.success_url,
			return_url: input.return_url ?? null,
			external_customer_id: input.external_customer_id ?? null,
			products: input.products
		});
	}
	if (method === 'POST' && path === '/v1/customer-sessions/') {
		const input = body as models.CustomerSessionCustomerExternalIDCreate;
		if (!state.customers.has(input.external_customer_id)) {
			return send(response, 404, { error: 'ResourceNotFound', detail: 'Customer not found.' });
		}
		const token = `polar_cst_${randomUUID()}`;
		return send(response, 201, {
			id: randomUUID(),
			token,
			expires_at: new Date(Date.now() + 3_600_000).toISOString(),
			return_url: input.return_url ?? null,
			customer_portal_url: `https://sandbox.polar.sh/org/portal?customer_session_token=${token}`,
			customer_id: `cus_${input.external_customer_id}`
		});
	}
	const subscriptionMatch = /^\/v1\/subscriptions\/([^/]+)$/.exec(path);
	if (method === 'PATCH' && subscriptionMatch) {
		// A plan change: Polar answers with the subscription on its new product and later sends
		// `subscription.updated` and the `order.paid` of the prorated invoice (the tests send those).
		const update = body as { product_id?: string; proration_behavior?: string };
		const product = state.products.find((p) => p.id === update.product_id);
		if (!product) {
			return send(response, 422, { error: 'RequestValidationError', detail: 'Unknown product.' });
		}
		return send(response, 200, {
			id: subscriptionMatch[1],
			status: 'active',
			product_id: product.id,
			product
		});
	}
	if (method === 'GET' && path === '/v1/orders/') {
		let items = state.orders;
		const statuses = url.searchParams.getAll('status');
		if (statuses.length) items = items.filter((o) => statuses.includes(o.status));
		const after = url.searchParams.get('created_after');
		if (after) items = items.filter((o) => o.created_at > after);
		return send(response, 200, page(items, url));
	}
	notFound(response);
}

function page<T>(items: T[], url: URL) {
	const limit = Number(url.searchParams.get('limit') ?? 10);
	const number = Number(url.searchParams.get('page') ?? 1);
	return {
		items: items.slice((number - 1) * limit, number * limit),
		pagination: {
			total_count: items.length,
			max_page: Math.max(1, Math.ceil(items.length / limit))
		}
	};
}

function priceOf(productId: string, amount: number): models.ProductPriceFixed {
	return {
		created_at: new Date().toISOString(),
		modified_at: null,
		id: `price_${randomUUID()}`,
		source: 'catalog',
		amount_type: 'fixed',
		price_currency: 'usd',
		tax_behavior: null,
		is_archived: false,
		product_id: productId,
		price_amount: amount
	};
}

function productOf(input: ProductInput): models.Product {
	const id = `prod_${randomUUID()}`;
	return {
		id,
		created_at: new Date().toISOString(),
		modified_at: null,
		trial_interval: null,
		trial_interval_count: null,
		name: input.name,
		description: input.description ?? null,
		visibility: input.visibility ?? 'public',
		recurring_interval: input.recurringInterval ?? null,
		recurring_interval_count: input.recurringInterval ? 1 : null,
		meter_interval: null,
		meter_interval_count: null,
		is_recurring: Boolean(input.recurringInterval),
		is_archived: input.isArchived ?? false,
		organization_id: 'org_test',
		metadata: input.metadata,
		is_deletable: true,
		prices: [priceOf(id, input.priceAmount)],
		benefits: [],
		medias: [],
		attached_custom_fields: []
	};
}

function notFound(response: ServerResponse) {
	send(response, 404, { error: 'ResourceNotFound', detail: 'Not found' });
}

function send(response: ServerResponse, status: number, body: unknown) {
	response.writeHead(status, { 'content-type': 'application/json' });
	response.end(JSON.stringify(body));
}

async function readBody(request: IncomingMessage): Promise<string> {
	let text = '';
	for await (const chunk of request) text += chunk;
	return text;
}
