import fc from 'fast-check';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { HttpClient, signUp } from '../helpers/http-client';
import { newWebhookSecret, signDelivery } from '../helpers/polar-events';

/**
 * Property tests over the public surface of the built app: whatever a client sends, the answer
 * is never a 5xx, and a refused request (4xx) writes nothing. Runs are bounded so the file
 * takes well under a minute; fast-check prints the seed and the shrunk input of a failure.
 */

const RUNS = 150;
const secret = newWebhookSecret();

/** Text with what breaks parsers and databases: NUL and other controls, unicode, surrogates. */
const nastyText = fc.oneof(
	fc.string({ maxLength: 40 }),
	fc.string({ unit: 'binary', maxLength: 40 }),
	fc.string({ unit: fc.constantFrom('\0', '\t', '\n', '\r', '\\', '/', '%', '\u202e', '😀', 'a') }),
	fc.constantFrom('', ' ', '\0', 'null', '[]', '{}', '%00', '\uD800', 'a'.repeat(5000))
);

/** Dates as people and attackers write them, including ones Date.parse accepts and PG refuses. */
const dateLike = fc
	.tuple(
		fc.oneof(fc.integer({ min: 0, max: 10_000 }), fc.constantFrom(0, 1969, 2000, 2026, 2999, 9999)),
		fc.integer({ min: 0, max: 13 }),
		fc.integer({ min: 0, max: 32 })
	)
	.map(([y, m, d]) => `${String(y).padStart(4, '0')}-${pad(m)}-${pad(d)}`);

const cursorLike = fc
	.tuple(
		dateLike,
		fc.integer({ min: 0, max: 25 }),
		fc.integer({ min: 0, max: 61 }),
		fc.integer({ min: 0, max: 999_999 }),
		fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 17n }), fc.constant(5n))
	)
	.map(
		([date, h, m, us, id]) =>
			`${date}T${pad(h)}:${pad(m)}:${pad(m)}.${String(us).padStart(6, '0')}Z_${id}`
	);

const queryValue = fc.oneof(
	nastyText,
	dateLike,
	cursorLike,
	fc.integer().map(String),
	fc.constantFrom('usage', 'usage,refund', 'bonus,,', '1e3', '-1', '100', 'NaN')
);

/** A query string: known and unknown keys, values encoded or raw (bad percent escapes too). */
const queryString = fc
	.array(
		fc.tuple(
			fc.oneof(
				fc.constantFrom('cursor', 'from', 'to', 'type', 'limit'),
				fc.string({ maxLength: 8 })
			),
			queryValue,
			fc.boolean()
		),
		{ maxLength: 5 }
	)
	.map((pairs) =>
		pairs
			.map(
				([key, value, raw]) => `${encode(key)}=${raw ? value.replace(/[#\s]/g, '') : encode(value)}`
			)
			.join('&')
	);

/** A UI message in the AI SDK's shape, with arbitrary contents. */
const uiMessage = fc.record(
	{
		id: fc.oneof(nastyText, fc.constant('m1')),
		role: fc.oneof(fc.constantFrom('user', 'assistant', 'system'), nastyText),
		parts: fc.array(
			fc.record({ type: fc.oneof(fc.constant('text'), nastyText), text: nastyText }),
			{ maxLength: 3 }
		)
	},
	{ requiredKeys: [] }
);

const chatId = fc.oneof(
	fc.constantFrom('fuzz-chat', 'a', 'x'.repeat(64), 'x'.repeat(65)),
	nastyText
);
const model = fc.oneof(fc.constantFrom('demo', 'small', ''), nastyText);

/** POST /api/chat bodies: generic JSON, raw strings, the current and the coming shapes. */
const chatBody = fc.oneof(
	fc.json({ maxDepth: 3 }),
	nastyText,
	fc
		.record(
			{ id: chatId, messages: fc.array(uiMessage, { maxLength: 3 }), model },
			{ requiredKeys: [] }
		)
		.map((body) => JSON.stringify(body)),
	fc
		.record(
			{ id: chatId, message: fc.oneof(nastyText, uiMessage), model },
			{ requiredKeys: ['id', 'message'] }
		)
		.map((body) => JSON.stringify(body))
);

/** Header values fetch can send (printable ASCII); the app must cope with any of them. */
const headerValue = fc.oneof(
	fc.stringMatching(/^[\x20-\x7e]{0,60}$/),
	fc.constantFrom('', 'v1,', 'v1,AAAA', 'v1a,x v2,y', '99999999999999999999', '-1', 'NaN'),
	fc.integer().map(String)
);

/** Redirect targets: open-redirect tricks (tabs, backslashes, `//`, encodings) and noise. */
const redirectTarget = fc.oneof(
	nastyText,
	fc
		.array(
			fc.constantFrom(
				'/',
				'//',
				'\\',
				'/\\',
				'\t',
				'\n',
				'\r',
				'\0',
				'%2F',
				'%5C',
				'%09',
				'evil.example',
				'http:',
				'https://evil.example',
				'javascript:alert(1)',
				'@',
				'dashboard',
				'?x=1',
				'#top',
				' '
			),
			{ maxLength: 6 }
		)
		.map((parts) => parts.join(''))
);

describe('fuzzing the public surface: never a 5xx, a refusal writes nothing', () => {
	let app: AppServer;
	let sql: postgres.Sql;
	let user: { client: HttpClient; userId: string };

	/** Rows of every table a request could write to, read in one statement. */
	const counts = async () =>
		(
			await sql`select
				(select count(*) from credit_transaction)::int as credit_transaction,
				(select count(*) from credit_hold)::int as credit_hold,
				(select count(*) from chat)::int as chat,
				(select count(*) from chat_message)::int as chat_message,
				(select count(*) from polar_webhook_delivery)::int as polar_webhook_delivery`
		)[0];

	/** Sends, reads the whole answer, and checks the two properties. */
	async function check(send: () => Promise<Response>): Promise<Response> {
		const before = await counts();
		const response = await send();
		const body = await response.text();
		expect(response.status, body.slice(0, 300)).toBeLessThan(500);
		if (response.status >= 400) expect(await counts()).toEqual(before);
		return response;
	}

	beforeAll(async () => {
		// No signup bonus: a well-formed chat request is refused (402) instead of streaming a
		// reply, so every chat run is a refusal whose writes can be checked.
		app = await startAppServer({
			SIGNUP_BONUS_CREDITS: '0',
			SWEEP_INTERVAL_SECONDS: '0',
			POLAR_WEBHOOK_SECRET: secret
		});
		sql = postgres(app.databaseUrl, { max: 1, onnotice: () => {} });
		user = await signUp(app.url, 'fuzz@example.com');
	});
	afterAll(async () => {
		await sql?.end();
		await app?.stop();
	});

	it('POST /api/chat: arbitrary JSON, strings and both body shapes', async () => {
		await fc.assert(
			fc.asyncProperty(
				chatBody,
				fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
				async (body, contentType) => {
					await check(() =>
						user.client.request('/api/chat', {
							method: 'POST',
							headers: { 'content-type': contentType },
							body
						})
					);
				}
			),
			{ numRuns: RUNS }
		);
	});

	it('GET /api/credits/transactions: arbitrary query strings, cursors and dates', async () => {
		await fc.assert(
			fc.asyncProperty(queryString, async (query) => {
				const response = await check(() => user.client.get(`/api/credits/transactions?${query}`));
				expect([200, 400]).toContain(response.status);
			}),
			{ numRuns: RUNS }
		);
	});

	it('GET /dashboard/credits and its export and __data.json: the same query strings', async () => {
		await fc.assert(
			fc.asyncProperty(
				queryString,
				fc.constantFrom(
					'/dashboard/credits',
					'/dashboard/credits/__data.json',
					'/dashboard/credits/export'
				),
				async (query, path) => {
					await check(() => user.client.get(`${path}?${query}`));
				}
			),
			{ numRuns: RUNS / 3 }
		);
		expect(app.output()).not.toContain('credits dashboard section failed');
		expect(app.output()).not.toContain('credits export failed');
	});

	it('GET /login?redirectTo=: no 5xx, and a redirect never leaves the site', async () => {
		const origin = new URL(app.url).origin;
		await fc.assert(
			fc.asyncProperty(redirectTarget, async (target) => {
				// Signed in, the login page sends the visitor straight on to redirectTo.
				const response = await check(() => user.client.get(`/login?redirectTo=${encode(target)}`));
				const location = response.headers.get('location');
				if (location !== null) {
					// Resolved as a browser would, which drops tabs and newlines first.
					expect(new URL(location, app.url).origin, location).toBe(origin);
				}
			}),
			{
				numRuns: RUNS,
				// Known open-redirect forms, always tried (browsers drop the tab: `//evil.example`).
				examples: [
					['/\t/evil.example'],
					['/\\evil.example'],
					['//evil.example'],
					['/%09/evil.example'],
					['\0'],
					['/\n/evil.example'],
					['https://evil.example/']
				]
			}
		);
	});

	it('POST /api/webhooks/polar: arbitrary bodies and headers, unsigned or badly signed', async () => {
		const anonymous = new HttpClient(app.url);
		await fc.assert(
			fc.asyncProperty(
				fc.oneof(fc.json({ maxDepth: 3 }), nastyText),
				fc.record(
					{
						'webhook-id': headerValue,
						'webhook-timestamp': fc.oneof(
							headerValue,
							fc.constant(String(Math.floor(Date.now() / 1000)))
						),
						'webhook-signature': headerValue,
						'content-type': fc.constantFrom('application/json', 'text/plain', '')
					},
					{ requiredKeys: [] }
				),
				async (body, headers) => {
					const response = await check(() =>
						anonymous.request('/api/webhooks/polar', { method: 'POST', headers, body })
					);
					expect([400, 403]).toContain(response.status);
				}
			),
			{ numRuns: RUNS }
		);
	});

	it('POST /api/webhooks/polar: correctly signed arbitrary JSON is a 2xx or a clean 400', async () => {
		const anonymous = new HttpClient(app.url);
		await fc.assert(
			fc.asyncProperty(
				fc.oneof(
					fc.json({ maxDepth: 3 }),
					fc
						.record({ type: nastyText, data: fc.jsonValue({ maxDepth: 2 }) })
						.map((event) => JSON.stringify(event))
				),
				async (body) => {
					const delivery = signDelivery(body, { secret });
					await check(() =>
						anonymous.request('/api/webhooks/polar', {
							method: 'POST',
							headers: delivery.headers,
							body: delivery.body
						})
					);
				}
			),
			{ numRuns: RUNS / 3 }
		);
	});
});

/** As a browser encodes it: a lone surrogate becomes U+FFFD instead of a URIError. */
function encode(value: string): string {
	return encodeURIComponent(value.toWellFormed());
}

function pad(value: number): string {
	return String(value).padStart(2, '0');
}
