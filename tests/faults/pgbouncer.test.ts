import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { count, sql as drizzleSql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verify } from '../../src/lib/server/credits';
import { openDatabase, selectRows, type Database } from '../../src/lib/server/db/client';
import { creditHold } from '../../src/lib/server/db/schema';
import { launchApp, type LaunchedApp } from '../helpers/app-server';
import { sendChat } from '../helpers/chat-client';
import { createPostgresDatabase } from '../helpers/databases';
import { signUp } from '../helpers/http-client';
import { DEFAULT_REPLY, startOpenAIServer, type OpenAIServer } from '../helpers/openai-server';
import { newWebhookSecret, orderPaid, polarOrder, signDelivery } from '../helpers/polar-events';
import { freePort } from '../helpers/ports';
import { TestDependencyError } from '../helpers/test-dependency-error';

const PGBOUNCER = process.env.PGBOUNCER_BIN ?? '/usr/sbin/pgbouncer';
const secret = newWebhookSecret();

interface Pgbouncer {
	/** The app's connection string: through the pooler to the test database. */
	url: string;
	output(): string;
	stop(): Promise<void>;
}

/**
 * Debian's PgBouncer (1.18) in transaction mode in front of one database of the test server:
 * every transaction may run on a different server connection of a pool of 10 that the app's
 * client connections share with its sweeps. It refuses to run as root, so as
 * root it runs as the `postgres` user (which the test PostgreSQL already needs).
 */
async function startPgbouncer(databaseUrl: string): Promise<Pgbouncer> {
	if (spawnSync(PGBOUNCER, ['--version']).error) {
		throw new TestDependencyError(
			'pgbouncer',
			`${PGBOUNCER} is missing`,
			'install it with `apt-get install -y pgbouncer` (.ci/run does), or set PGBOUNCER_BIN'
		);
	}
	const target = new URL(databaseUrl);
	const user = decodeURIComponent(target.username);
	const password = decodeURIComponent(target.password);
	const dbname = target.pathname.slice(1);
	const dir = mkdtempSync(join(tmpdir(), 'credit-chat-pgbouncer-'));
	const port = await freePort();
	writeFileSync(join(dir, 'users.txt'), `"${user}" "${password}"\n`);
	writeFileSync(
		join(dir, 'pgbouncer.ini'),
		`[databases]
app = host=${target.hostname} port=${target.port} dbname=${dbname}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = md5
auth_file = ${dir}/users.txt
pool_mode = transaction
default_pool_size = 10
max_client_conn = 200
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
`
	);
	let asUser: { uid: number; gid: number } | undefined;
	if (process.getuid?.() === 0) {
		const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres']).stdout.toString());
		asUser = { uid: id('-u'), gid: id('-g') };
		chownSync(dir, asUser.uid, asUser.gid);
		for (const file of ['users.txt', 'pgbouncer.ini']) {
			chownSync(join(dir, file), asUser.uid, asUser.gid);
		}
	}
	const child: ChildProcess = spawn(PGBOUNCER, [join(dir, 'pgbouncer.ini')], {
		stdio: ['ignore', 'pipe', 'pipe'],
		...asUser
	});
	let output = '';
	child.stdout?.on('data', (chunk) => (output += chunk));
	child.stderr?.on('data', (chunk) => (output += chunk));
	const url = `postgres://${target.username}:${target.password}@127.0.0.1:${port}/app`;
	const stop = async () => {
		if (child.exitCode === null && child.signalCode === null) {
			const exited = new Promise((resolve) => child.once('exit', resolve));
			child.kill('SIGINT');
			await Promise.race([exited, sleep(5_000).then(() => child.kill('SIGKILL'))]);
		}
		rmSync(dir, { recursive: true, force: true });
	};
	// Ready when a query goes through it.
	for (const deadline = Date.now() + 10_000; ; await sleep(100)) {
		if (child.exitCode !== null) {
			await stop();
			throw new Error(`pgbouncer exited with ${child.exitCode}:\n${output}`);
		}
		const probe = postgres(url, { max: 1, prepare: false, onnotice: () => {} });
		try {
			await probe`select 1`;
			break;
		} catch (error) {
			if (Date.now() > deadline) {
				await stop();
				throw new Error(`pgbouncer did not answer within 10 s:\n${output}`, { cause: error });
			}
		} finally {
			await probe.end({ timeout: 1 });
		}
	}
	return { url, output: () => output, stop };
}

/** The promise, or an error naming `what` when it has not settled after `ms`. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error(`${what} did not end within ${ms} ms`)), ms);
	});
	return Promise.race([promise.finally(() => clearTimeout(timer)), timeout]);
}

describe('the built app through PgBouncer in transaction mode (DATABASE_PREPARE=false)', () => {
	let database: { url: string; drop(): Promise<void> };
	let pgbouncer: Pgbouncer;
	let upstream: OpenAIServer;
	let app: LaunchedApp;
	let direct: Database;
	let sql: postgres.Sql;

	beforeAll(async () => {
		database = await createPostgresDatabase();
		pgbouncer = await startPgbouncer(database.url);
		upstream = await startOpenAIServer({ delayMs: 5 });
		// Migrations, sign-up, chat, webhooks, sweeps: everything the app does goes through the
		// pooler; only the test's own checks read the database directly.
		app = await launchApp({
			DATABASE_URL: pgbouncer.url,
			DATABASE_PREPARE: 'false',
			OPENAI_BASE_URL: upstream.url,
			OPENAI_API_KEY: 'test',
			OPENAI_API_STYLE: 'chat',
			CHAT_MODELS: 'pooled:1',
			CHAT_MAX_CONCURRENT: '100',
			SIGNUP_BONUS_CREDITS: '1000',
			SWEEP_INTERVAL_SECONDS: '1',
			POLAR_WEBHOOK_SECRET: secret
		});
		direct = openDatabase({ url: database.url, dataDir: null, maxConnections: 2 });
		sql = postgres(database.url, { max: 1, onnotice: () => {} });
	});
	afterAll(async () => {
		await sql?.end();
		await direct?.close();
		await app?.stop();
		await upstream?.close();
		await pgbouncer?.stop();
		await database?.drop();
	});

	it('signs up, bills 20 concurrent replies exactly once, grants a webhook once, verify clean', async () => {
		const { client, userId } = await signUp(app.url, 'pooled@example.com');
		const before = await (await client.get('/api/credits')).json();
		expect(before.balance).toBe(1000);

		// A reply that never ends (a query whose answer the pooler lost) fails here, not at the
		// suite's timeout.
		const replies = await Promise.all(
			Array.from({ length: 20 }, (_, i) =>
				within(
					60_000,
					`reply ${i}`,
					sendChat(client, { chatId: `pooled-${i}`, model: 'pooled', text: `Question ${i}` })
				)
			)
		);
		for (const reply of replies) {
			expect(reply.status, JSON.stringify(reply.error)).toBe(200);
			expect(reply.chunks.filter((c) => c.type === 'error')).toEqual([]);
			expect(reply.text).toBe(DEFAULT_REPLY);
		}

		// Settlement runs after each response ended.
		for (const deadline = Date.now() + 15_000; ; await sleep(50)) {
			const [{ n }] =
				await sql`select count(*)::int as n from credit_hold where status = 'pending'`;
			if (n === 0) break;
			expect(Date.now(), 'holds still pending').toBeLessThan(deadline);
		}
		const holds =
			await sql`select id, status, charged_credits from credit_hold where user_id = ${userId}`;
		expect(holds).toHaveLength(20);
		expect(holds.every((h) => h.status === 'settled')).toBe(true);
		const usage = await sql`
			select metadata->>'holdId' as hold, count(*)::int as rows, -sum(amount)::int as charged
			from credit_transaction where user_id = ${userId} and type = 'usage'
			group by 1`;
		// One hold, one charge (a reply that spans packages writes one row per package).
		expect(usage).toHaveLength(20);
		const charged = usage.reduce((sum, row) => sum + row.charged, 0);
		expect(charged).toBe(holds.reduce((sum, h) => sum + h.charged_credits, 0));
		expect(charged).toBeGreaterThan(0);

		// A paid order, delivered twice (a Polar retry): granted once.
		const delivery = signDelivery(
			orderPaid(
				polarOrder({ userId, product: { name: '500 credits', metadata: { credits: '500' } } })
			),
			{ secret }
		);
		for (let attempt = 0; attempt < 2; attempt++) {
			const response = await fetch(`${app.url}/api/webhooks/polar`, {
				method: 'POST',
				headers: delivery.headers,
				body: delivery.body
			});
			expect(response.status).toBe(200);
		}
		const after = await (await client.get('/api/credits')).json();
		expect(after.balance).toBe(1000 - charged + 500);
		expect(after.reserved).toBe(0);

		const report = await verify(direct.db);
		expect(report.drifts).toEqual([]);
		expect(report.users).toBeGreaterThan(0);
		// The pooler was really in the way: the app's sessions all came through it.
		expect(pgbouncer.output()).not.toMatch(/prepared statement .* does not exist/);
		// No answer was handed to a server connection the pooler had already taken back.
		expect(pgbouncer.output()).not.toMatch(/from server when not linked/);
	});

	it('never loses an answer: queries with and without parameters and transactions at once', async () => {
		// What hung one reply in three runs: with every connection in use, postgres.js pipelined
		// a query with parameters (Parse/Describe/Flush, no Sync) behind one without (which ends
		// with a Sync); PgBouncer released the server connection at that one's ReadyForQuery and
		// dropped the answer of the other. Two connections make the pool run out at once.
		const pooled = openDatabase({
			url: pgbouncer.url,
			dataDir: null,
			maxConnections: 2,
			prepare: false
		});
		try {
			for (let round = 0; round < 200; round++) {
				const [one, n, inTransaction, , , holds] = await within(
					5_000,
					`round ${round}`,
					Promise.all([
						selectRows(pooled.db, drizzleSql`select 1 as one`),
						selectRows(pooled.db, drizzleSql`select ${round}::int as n`),
						pooled.db.transaction((tx) =>
							selectRows(tx, drizzleSql`select ${round}::int + 1 as m`)
						),
						selectRows(pooled.db, drizzleSql`select 2 as two`),
						selectRows(pooled.db, drizzleSql`select ${round}::text as t`),
						// The query builder without parameters (drizzle reads it with `.values()`).
						pooled.db.select({ n: count() }).from(creditHold)
					])
				);
				expect(one).toEqual([{ one: 1 }]);
				expect(n).toEqual([{ n: round }]);
				expect(inTransaction).toEqual([{ m: round + 1 }]);
				expect(holds).toEqual([{ n: expect.any(Number) }]);
			}
		} finally {
			await pooled.close();
		}
		expect(pgbouncer.output()).not.toMatch(/from server when not linked/);
	});
});
