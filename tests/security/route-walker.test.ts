// The route walker reads src/routes from disk and requests every page, its __data.json (plain
// and with each x-sveltekit-invalidated variant that skips layout loads), every form action
// (form and enhanced) and every exported API method, as a stranger, as user A, as user B on
// A's ids and as an admin; so a new route is walked the day it is added, with nobody listing it.
// A route with a param (`[id]`, `[slug]`…) the walker cannot fill fails the first test: add the
// param to `byRoute` (per route id, for a generic name like `id`) or `shared` (for a name that
// means one thing everywhere, like `packageId`) below, using a fixture that belongs to user A.
// New public APIs go in PUBLIC_API_PREFIXES in tests/helpers/route-walker.ts, as in hooks.
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppServer, type AppServer } from '../helpers/app-server';
import { sendChat } from '../helpers/chat-client';
import { HttpClient, signUp, signUpAdmin } from '../helpers/http-client';
import { startPolarApiServer, type PolarApiServer } from '../helpers/polar-api-server';
import { newWebhookSecret, orderPaid, polarOrder, signDelivery } from '../helpers/polar-events';
import {
	planProbes,
	pool,
	redirectOf,
	send,
	summarize,
	type Answer,
	type Probe,
	type RoutePlan
} from '../helpers/route-walker';

type Principal = 'anonymous' | 'user A' | 'user B' | 'admin';

const ROUTES_DIR = resolve('src/routes');
const PASSWORD = 'correct horse';
const CONCURRENCY = 4;
const WALK_TIMEOUT = 60_000;

const secret = newWebhookSecret();
const tag = randomUUID().slice(0, 8);
/** Strings that exist only in user A's data (and, for `webhook`, in the admin's delivery log). */
const marks = {
	email: `alice.walker.${tag}@example.com`,
	name: `Alice Walker ${tag}`,
	chatTitle: `WALKER-CHAT-TITLE-${tag}`,
	chatBody: `WALKER-CHAT-BODY-${tag}`,
	packageName: `WALKER-PACKAGE-${tag}`,
	webhook: `WALKER-WEBHOOK-${tag}`
};
const emailB = `bob.walker.${tag}@example.com`;
const emailAdmin = `admin.walker.${tag}@example.com`;
const chatIdOfA = `walker-chat-${tag}`;
/** Form actions that sign the caller out on every other device. */
const SESSION_ENDING_ACTIONS = ['/dashboard/settings?/signOutOthers'];

let formCounter = 0;

describe('route walker: every route, every principal', () => {
	let polar: PolarApiServer;
	let app: AppServer;
	let sql: postgres.Sql;
	let plan: RoutePlan;
	const clients = {} as Record<Principal, HttpClient>;
	const emails: Record<Exclude<Principal, 'anonymous'>, string> = {
		'user A': marks.email,
		'user B': emailB,
		admin: emailAdmin
	};
	const leakMarks: Record<string, string> = { ...marks };

	beforeAll(async () => {
		// Billing on, against the local Polar stand-in: buying and reconciling do real work.
		polar = await startPolarApiServer();
		const offer = polar.addProduct({
			name: 'Walker pack',
			priceAmount: 500,
			metadata: { credits: 500 }
		});
		app = await startAppServer({
			POLAR_ACCESS_TOKEN: polar.token,
			POLAR_API_URL: polar.url,
			POLAR_RECONCILE_INTERVAL_SECONDS: '0',
			POLAR_WEBHOOK_SECRET: secret,
			DEMO_MODEL_DELAY_MS: '0'
		});
		sql = postgres(app.databaseUrl, { max: 1 });
		const a = await signUp(app.url, marks.email, marks.name);
		clients['user A'] = a.client;
		clients['user B'] = (await signUp(app.url, emailB, 'Bob Walker')).client;
		clients.admin = (await signUpAdmin(app, emailAdmin, 'Admin Walker')).client;
		clients.anonymous = new HttpClient(app.url);
		leakMarks.userId = a.userId;

		const chat = await sendChat(a.client, {
			chatId: chatIdOfA,
			text: `${marks.chatTitle}\n${marks.chatBody}`,
			model: 'demo'
		});
		if (chat.status !== 200) throw new Error(`A's chat failed: ${JSON.stringify(chat.error)}`);

		const order = polarOrder({
			userId: a.userId,
			product: { name: marks.packageName, metadata: { credits: '100', walker: marks.webhook } }
		});
		const delivery = signDelivery(orderPaid(order), { secret });
		const webhook = await fetch(`${app.url}/api/webhooks/polar`, {
			method: 'POST',
			headers: delivery.headers,
			body: delivery.body
		});
		if (webhook.status !== 200) throw new Error(`Webhook failed: ${await webhook.text()}`);
		const credits = await (await a.client.get('/api/credits')).json();
		const pkg = credits.packages.find((p: { name: string }) => p.name === marks.packageName);
		if (!pkg) throw new Error(`A's package is missing: ${JSON.stringify(credits)}`);

		plan = planProbes(ROUTES_DIR, {
			// A generic name (`id`) is only filled for the route it is known to mean.
			byRoute: {
				'/(app)/dashboard/chat/[id]': { id: chatIdOfA },
				'/api/chat/[id]/stop': { id: chatIdOfA },
				'/api/chat/[id]/stream': { id: chatIdOfA },
				'/(admin)/admin/users/[id]': { id: a.userId },
				'/api/admin/users/[id]': { id: a.userId },
				'/api/admin/users/[id]/credits': { id: a.userId },
				'/api/admin/users/[id]/ban': { id: a.userId },
				'/api/admin/users/[id]/unban': { id: a.userId },
				'/api/admin/users/[id]/packages/[packageId]/revoke': { id: a.userId }
			},
			shared: { chatId: chatIdOfA, packageId: pkg.id, userId: a.userId },
			forms: {
				'/(app)/dashboard/chat/[id]?/rename': { title: 'Renamed by the route walker' },
				'/(admin)/admin/webhooks?/reconcile': { days: '1' },
				'/(app)/dashboard/buy?/buy': { productId: offer.id }
			},
			// Sign-up and sign-in (an account that does not exist yet) take these.
			defaultForm: () => ({
				name: 'Walker form',
				email: `walker.form.${tag}.${formCounter++}@example.com`,
				password: PASSWORD
			}),
			bodies: {
				// Another user's chat id: the API must refuse it, not append to it.
				'POST /api/chat': () => ({
					id: chatIdOfA,
					messages: [
						{ id: `walker-${formCounter++}`, role: 'user', parts: [{ type: 'text', text: 'hi' }] }
					],
					model: 'demo',
					trigger: 'submit-message'
				})
			}
		});
	});

	afterAll(async () => {
		await sql?.end();
		await app?.stop();
		await polar?.close();
	});

	/**
	 * A client for one action: a fresh session (a fresh sign-in, or none), so that `logout` or
	 * `signup` cannot sign the walk's shared client out or in as someone else.
	 */
	async function actionClient(principal: Principal): Promise<HttpClient> {
		const client = new HttpClient(app.url);
		if (principal === 'anonymous') return client;
		const response = await client.postForm('/login', {
			email: emails[principal],
			password: PASSWORD
		});
		if (response.status !== 303 || !client.hasSession()) {
			throw new Error(`${principal} could not sign in again: ${response.status}`);
		}
		return client;
	}

	/**
	 * Sends every probe as `principal` and returns each broken rule as one line. Actions that
	 * end the caller's other sessions ("sign out everywhere else") would sign the shared client
	 * out mid-walk: they go last, and the shared client signs in again afterwards.
	 */
	async function walk(
		principal: Principal,
		judge: (probe: Probe, answer: Answer) => string | null,
		probes: Probe[] = plan.probes
	): Promise<string[]> {
		const started = performance.now();
		const problems: string[] = [];
		const endsSessions = (probe: Probe) =>
			probe.kind === 'action' && SESSION_ENDING_ACTIONS.some((a) => probe.label.includes(a));
		const probeOne = async (probe: Probe) => {
			const client = probe.kind === 'action' ? await actionClient(principal) : clients[principal];
			const answer = await send(client, probe);
			const problem = answer.status >= 500 ? 'server error' : judge(probe, answer);
			if (problem) problems.push(`${principal} ${probe.label}: ${problem} [${summarize(answer)}]`);
		};
		await pool(
			probes.filter((p) => !endsSessions(p)),
			CONCURRENCY,
			probeOne
		);
		const last = probes.filter(endsSessions);
		await pool(last, 1, probeOne);
		if (last.length > 0 && principal !== 'anonymous') {
			clients[principal] = await actionClient(principal);
		}
		const seconds = ((performance.now() - started) / 1000).toFixed(1);
		console.info(`route walker: ${probes.length} requests as ${principal} in ${seconds} s`);
		return problems.sort();
	}

	/** Which of user A's marker strings this answer shows, if any. */
	function leakIn(answer: Answer, probe?: Probe): string | null {
		// A mark the caller put in the URL itself (A's id in /admin/users/[id]) is echoed by the
		// sign-in redirect's `redirectTo`: that is the caller's own input, not A's data.
		const found = Object.entries(leakMarks).filter(
			([, mark]) => answer.body.includes(mark) && !probe?.url.includes(mark)
		);
		return found.length ? `shows user A's ${found.map(([name]) => name).join(', ')}` : null;
	}

	/** Admin paths: no 2xx at all for anyone but an admin; signed-out callers go to sign in. */
	function refusedAdmin(answer: Answer, signedIn: boolean): string | null {
		if (answer.status === 403) return null;
		if (!signedIn && answer.status === 401) return null;
		const location = redirectOf(answer);
		if (location === null) {
			const wanted = signedIn ? '403 or a redirect' : '401, 403 or a redirect to /login';
			return `${answer.status} for a non-admin on an admin path (wanted ${wanted})`;
		}
		const target = new URL(location, app.url);
		if (target.origin !== app.url) return 'redirects off the site';
		if (!signedIn && target.pathname !== '/login') return 'redirects elsewhere than /login';
		if (target.pathname.startsWith('/admin')) return 'redirects into the admin area';
		return null;
	}

	/** A snapshot of user A's rows, to show that nobody else's requests changed them. */
	async function snapshotOfA() {
		const [chat] = await sql`select user_id, title,
			(select count(*) from chat_message m where m.chat_id = c.id)::int as messages
			from chat c where id = ${chatIdOfA}`;
		const packages = await sql`select id, name, remaining_credits, revoked_credits, expired_credits
			from credit_package where user_id = ${leakMarks.userId} order by id`;
		const [ledger] = await sql`select count(*)::int as rows from credit_transaction
			where user_id = ${leakMarks.userId}`;
		const [user] = await sql`select email, role from "user" where id = ${leakMarks.userId}`;
		return { chat, packages, ledger, user };
	}

	it('finds every route under src/routes and can fill every param', () => {
		expect(plan.unmapped, 'teach the walker these params (see the comment on top)').toEqual([]);
		// The walk is only as good as its discovery: these kinds of route must all be found.
		const labels = plan.probes.map((p) => p.label);
		expect(labels).toEqual(
			expect.arrayContaining([
				'GET /admin/webhooks',
				'GET /admin/webhooks/__data.json?x-sveltekit-invalidated=001',
				'POST /admin/webhooks?/reconcile (enhanced)',
				`POST /dashboard/chat/${chatIdOfA}?/delete (form)`,
				'POST /login (form)',
				'GET /logout',
				'POST /api/chat',
				`POST /api/chat/${chatIdOfA}/stop`,
				`GET /api/chat/${chatIdOfA}/stream`,
				'GET /api/credits/transactions',
				'GET /dashboard/credits/export'
			])
		);
		console.info(
			`route walker: ${plan.routeCount} routes, ${plan.probes.length} requests per principal`
		);
	});

	it('finds user A’s marks where they belong: the leak checks can see them', async () => {
		const chatPage = await send(
			clients['user A'],
			plan.probes.find((p) => p.label === `GET /dashboard/chat/${chatIdOfA}`)!
		);
		expect(chatPage.status).toBe(200);
		expect(chatPage.body).toContain(marks.chatTitle);
		expect(chatPage.body).toContain(marks.chatBody);
		expect(chatPage.body).toContain(marks.email);
		const credits = await clients['user A'].get('/api/credits');
		expect(await credits.text()).toContain(marks.packageName);
		// The hole this walker was written for: the delivery log shows the webhook mark and A's id.
		for (const url of [
			'/admin/webhooks',
			'/admin/webhooks/__data.json?x-sveltekit-invalidated=001'
		]) {
			const log = await (await clients.admin.get(url)).text();
			expect(log, url).toContain(marks.webhook);
			expect(log, url).toContain(leakMarks.userId);
		}
	});

	it(
		'anonymous: dashboard redirects to /login, admin is refused, APIs answer 401 JSON',
		{ timeout: WALK_TIMEOUT },
		async () => {
			const problems = await walk('anonymous', (probe, answer) => {
				const leak = leakIn(answer, probe);
				if (leak) return leak;
				if (probe.area === 'admin') return refusedAdmin(answer, false);
				if (probe.area === 'dashboard') {
					const location = redirectOf(answer);
					const target = location === null ? null : new URL(location, app.url);
					return target?.origin === app.url && target.pathname === '/login'
						? null
						: 'not redirected to /login';
				}
				if (probe.area === 'api') {
					if (answer.status !== 401) return 'not 401';
					try {
						return typeof JSON.parse(answer.body).error?.code === 'string' ? null : 'no JSON error';
					} catch {
						return 'not JSON';
					}
				}
				return null;
			});
			expect(problems).toEqual([]);
		}
	);

	it(
		'user B on user A’s ids: sees none of A’s data, changes none of it, admin refused',
		{ timeout: WALK_TIMEOUT },
		async () => {
			const before = await snapshotOfA();
			const problems = await walk('user B', (probe, answer) => {
				return leakIn(answer) ?? (probe.area === 'admin' ? refusedAdmin(answer, true) : null);
			});
			expect(problems).toEqual([]);
			expect(await snapshotOfA()).toEqual(before);
		}
	);

	it(
		'admin: 200 on admin pages and their data, no user A data elsewhere',
		{ timeout: WALK_TIMEOUT },
		async () => {
			const before = await snapshotOfA();
			const problems = await walk('admin', (probe, answer) => {
				if (probe.area !== 'admin') return leakIn(answer);
				if (probe.kind === 'page' && answer.status !== 200) return 'admin page not 200';
				if (probe.kind === 'data') {
					if (answer.status !== 200) return 'admin data not 200';
					if (!answer.body.startsWith('{"type":"data"')) return 'admin data is not data';
				}
				return null;
			});
			expect(problems).toEqual([]);
			expect(await snapshotOfA()).toEqual(before);
		}
	);

	it(
		'user A (last: its own actions rename and delete its chat): no 5xx, admin refused',
		{ timeout: WALK_TIMEOUT },
		async () => {
			// Actions after the reads, so the chat still exists while A's pages are read.
			const reads = plan.probes.filter((p) => p.kind !== 'action');
			const actions = plan.probes.filter((p) => p.kind === 'action');
			const judge = (probe: Probe, answer: Answer) =>
				probe.area === 'admin' ? refusedAdmin(answer, true) : null;
			const problems = [
				...(await walk('user A', judge, reads)),
				...(await walk('user A', judge, actions))
			];
			expect(problems).toEqual([]);
		}
	);
});
