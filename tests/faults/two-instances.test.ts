import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plans } from '../../config/plans';
import { planMetadataOf } from '../../src/lib/server/billing/seed-products';
import { grant } from '../../src/lib/server/credits';
import { openDatabase } from '../../src/lib/server/db/client';
import { spawnApp, stopProcess, TEST_SECRET } from '../helpers/app-server';
import { sendChat } from '../helpers/chat-client';
import { createPostgresDatabase } from '../helpers/databases';
import { signUp } from '../helpers/http-client';
import { startNginx, type Nginx } from '../helpers/nginx';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openai-server';
import { newWebhookSecret, orderPaid, polarOrder, signDelivery } from '../helpers/polar-events';
import { freePort } from '../helpers/ports';
import { createUser } from '../helpers/users';
import { holds, ledgerDrifts, reservedCredits, upstreamEnv, waitFor } from './support';

const secret = newWebhookSecret();
const FREE_MONTHLY = 50;
const DAY = 86_400_000;
const yearly = plans.find((p) => p.key === 'pro-yearly')!;

interface Instance {
	url: string;
	child: ChildProcess;
	output(): string;
}

/**
 * Two app instances on one database behind Debian's nginx, both running their sweeps every
 * second: the jobs race each other on every run, and each grant or expiry must still happen
 * exactly once (the sweeps re-check under the user's lock; monthly grants are unique per
 * allocation-month and per user-month).
 */
describe('two instances behind nginx on one database', () => {
	let database: { url: string; drop(): Promise<void> };
	let upstream: OpenAIServer;
	let nginx: Nginx;
	let sql: postgres.Sql;
	const instances: Instance[] = [];
	/** Users the sweeps must serve: made before the instances start, without a sign-up. */
	const quietUsers: string[] = [];
	const expiringPackages: string[] = [];

	beforeAll(async () => {
		database = await createPostgresDatabase();
		const db = openDatabase({ url: database.url, dataDir: null, maxConnections: 2 });
		try {
			await db.migrate('drizzle');
			for (let i = 0; i < 8; i++) {
				const userId = await createUser(db.db);
				quietUsers.push(userId);
				// A package the sweeps must expire a few seconds after both instances run.
				const { packageId } = await grant(db.db, {
					userId,
					source: 'purchase',
					name: 'Expiring pack',
					credits: 40,
					expiresAt: new Date(Date.now() + 25_000),
					key: `test-grant:${randomUUID()}`
				});
				expiringPackages.push(packageId);
			}
		} finally {
			await db.close();
		}
		upstream = await startOpenAIServer({ delayMs: 5 });
		sql = postgres(database.url, { max: 2, onnotice: () => {} });
		const ports = [await freePort(), await freePort()];
		nginx = await startNginx(ports.map((p) => `http://127.0.0.1:${p}`));
		// One after the other: each runs the migrations at start.
		for (const port of ports) instances.push(await startInstance(port, nginx.url));
		// nginx's own start-up probe found no instance and marked both down for fail_timeout (10 s).
		await waitFor(
			'nginx to reach the instances',
			async () => (await fetch(`${nginx.url}/api/health`)).status === 200,
			30_000,
			250
		);
	});
	afterAll(async () => {
		await nginx?.stop();
		await Promise.all(instances.map((i) => stopProcess(i.child)));
		await sql?.end();
		await database?.drop();
		await upstream?.close();
	});

	async function startInstance(port: number, origin: string): Promise<Instance> {
		const url = `http://127.0.0.1:${port}`;
		const child = spawnApp({
			PORT: String(port),
			HOST: '127.0.0.1',
			ORIGIN: origin,
			ADDRESS_HEADER: 'x-forwarded-for',
			XFF_DEPTH: '1',
			// Longer than nginx keeps idle upstream connections (README, Scaling): no 502 on reuse.
			KEEP_ALIVE_TIMEOUT: '75',
			HEADERS_TIMEOUT: '76',
			BETTER_AUTH_SECRET: TEST_SECRET,
			AUTH_RATE_PER_MINUTE: '0',
			CHAT_RATE_PER_MINUTE: '0',
			DATABASE_URL: database.url,
			...upstreamEnv(upstream),
			POLAR_WEBHOOK_SECRET: secret,
			FREE_MONTHLY_CREDITS: String(FREE_MONTHLY),
			SWEEP_INTERVAL_SECONDS: '1'
		});
		let output = '';
		child.stdout?.on('data', (chunk) => (output += chunk));
		child.stderr?.on('data', (chunk) => (output += chunk));
		await waitFor(
			`the instance on port ${port} to answer`,
			async () => {
				if (child.exitCode !== null) throw new Error(`The instance exited:\n${output}`);
				return fetch(`${url}/api/health`).then(
					(r) => r.ok,
					() => false
				);
			},
			60_000,
			100
		);
		return { url, child, output: () => output };
	}

	it('grants, allocates and expires each thing once while both sweep', async () => {
		// Traffic through nginx: sign-ups, a yearly plan bought 40 days ago (its second month is
		// due and left to the sweeps), chats.
		const buyers = [];
		for (let i = 0; i < 4; i++) buyers.push(await signUp(nginx.url, `two-${i}@example.com`));
		const orders: string[] = [];
		for (const { userId } of buyers.slice(0, 2)) {
			const start = new Date(Date.now() - 40 * DAY);
			const order = polarOrder({
				userId,
				product: {
					id: `prod_${yearly.key}`,
					name: yearly.name,
					metadata: planMetadataOf(yearly),
					recurringInterval: 'year'
				},
				billingReason: 'subscription_create',
				netAmount: yearly.priceAmount,
				subscription: { periodStart: start, periodEnd: new Date(start.getTime() + 365 * DAY) },
				createdAt: start
			});
			orders.push(order.id);
			const delivery = signDelivery(orderPaid(order), { secret });
			// Delivered twice at once, as Polar may when a first attempt timed out.
			const answers = await Promise.all(
				[0, 1].map(() =>
					fetch(`${nginx.url}/api/webhooks/polar`, {
						method: 'POST',
						headers: delivery.headers,
						body: delivery.body
					})
				)
			);
			expect(answers.map((r) => r.status)).toEqual([200, 200]);
		}
		const chats = await Promise.all(
			buyers.flatMap(({ client }) =>
				[0, 1].map((n) => sendChat(client, { model: 'big', text: `Hello ${n}` }))
			)
		);
		expect(chats.map((c) => c.status)).toEqual(chats.map(() => 200));

		// The sweeps of both instances, every second, until the expiry is past and a few runs more.
		await waitFor(
			'the expiring packages to expire',
			async () => {
				const [row] = await sql`select count(*)::int as n from credit_transaction
					where type = 'expire'`;
				return row.n >= expiringPackages.length;
			},
			90_000,
			250
		);
		await new Promise((resolve) => setTimeout(resolve, 4_000));

		// Both instances served traffic and both swept.
		for (const instance of instances) {
			expect(instance.output()).not.toMatch(/\[sweep\] failed/);
		}
		const expiries = await sql`select package_id, count(*)::int as n from credit_transaction
			where type = 'expire' group by 1`;
		expect(expiries.map((e) => e.package_id).sort()).toEqual([...expiringPackages].sort());
		expect(expiries.every((e) => e.n === 1)).toBe(true);

		const everyone = [...quietUsers, ...buyers.map((b) => b.userId)];
		const free = await sql`select user_id, count(*)::int as n, sum(initial_credits)::int as credits
			from credit_package where source = 'free_monthly' group by 1`;
		expect(free.map((f) => f.user_id).sort()).toEqual([...everyone].sort());
		expect(free.every((f) => f.n === 1 && f.credits === FREE_MONTHLY)).toBe(true);

		const allocations = await sql`select polar_order_id, months_granted from credit_allocation`;
		expect(allocations.map((a) => a.polar_order_id).sort()).toEqual([...orders].sort());
		expect(allocations.every((a) => a.months_granted === 2)).toBe(true);
		const months = await sql`select a.polar_order_id, p.allocation_month, count(*)::int as n
			from credit_package p join credit_allocation a on a.id = p.allocation_id
			where p.allocation_month = 2 group by 1, 2`;
		expect(months.map((m) => m.polar_order_id).sort()).toEqual([...orders].sort());
		expect(months.every((m) => m.n === 1)).toBe(true);

		expect(await holds(sql)).toSatisfy((rows: { status: string }[]) =>
			rows.every((h) => h.status === 'settled')
		);
		expect(await reservedCredits(sql)).toBe(0);
		expect(await ledgerDrifts(database.url)).toEqual([]);
	});
});
