import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchApp, type LaunchedApp } from '../helpers/app-server';
import { sendChat } from '../helpers/chat-client';
import { createPostgresDatabase } from '../helpers/databases';
import { startOpenAIServer, type OpenAIServer } from '../helpers/openai-server';
import {
	buyer,
	chargesByHold,
	holds,
	ledgerDrifts,
	reservedCredits,
	upstreamEnv,
	waitFor
} from './support';

/**
 * The app's database connection dies at the moment of settlement. To hit that moment every
 * time, the test holds the user's account lock (the row every ledger operation locks first)
 * while the reply finishes, so the settlement waits on it; the test then terminates exactly
 * that backend (`pg_terminate_backend`, as a failover or an admin would) and lets the lock go.
 * The app must retry the settlement with the same key (settle:<hold id>) and charge once.
 */
describe('a connection cut at settlement', () => {
	let upstream: OpenAIServer;
	let database: { url: string; drop(): Promise<void> };
	let sql: postgres.Sql;
	let app: LaunchedApp;

	beforeAll(async () => {
		upstream = await startOpenAIServer({ delayMs: 40 });
		database = await createPostgresDatabase();
		sql = postgres(database.url, { max: 3, onnotice: () => {} });
		app = await launchApp({
			DATABASE_URL: database.url,
			...upstreamEnv(upstream),
			SIGNUP_BONUS_CREDITS: '0',
			SWEEP_INTERVAL_SECONDS: '0'
		});
	});
	afterAll(async () => {
		await app?.stop();
		await sql?.end();
		await database?.drop();
		await upstream?.close();
	});

	it('retries the settlement with the same key and charges exactly once', async () => {
		const { client, userId } = await buyer(app.url, database.url, 1_000);
		const [{ dbName }] = await sql`select current_database() as "dbName"`;

		// The lock is taken while the reply streams (after its hold was reserved), so the first
		// ledger operation to wait on it is the settlement at the end of the reply.
		const reply = sendChat(client, { model: 'big', text: 'Tell me about credits' }).catch(
			(error: unknown) => error
		);
		await waitFor('the reply to stream', async () => upstream.requests.length === 1, 30_000, 20);
		let release!: () => void;
		const released = new Promise<void>((resolve) => (release = resolve));
		let locked!: () => void;
		const lockTaken = new Promise<void>((resolve) => (locked = resolve));
		let holderPid = 0;
		const holder = sql.begin(async (tx) => {
			[{ holderPid }] = await tx`select pg_backend_pid() as "holderPid"`;
			await tx`select user_id from credit_account where user_id = ${userId} for update`;
			locked();
			await released;
		});
		await lockTaken;
		try {
			await cutAndRetry();
		} finally {
			release();
			await holder;
		}

		async function cutAndRetry() {
			expect(await holds(sql)).toMatchObject([{ status: 'pending' }]);
			// Settlement runs in credit_settle(), which locks the account row inside the function.
			const waiting = await waitFor(
				"the app's settlement to wait on the account lock",
				async () => {
					const rows = await sql`select pid from pg_stat_activity
					where datname = ${dbName} and wait_event_type = 'Lock' and pid <> ${holderPid}`;
					return rows.length === 1 && (rows[0].pid as number);
				},
				60_000,
				25
			);
			const [{ terminated }] = await sql`select pg_terminate_backend(${waiting}) as terminated`;
			expect(terminated).toBe(true);
			// The app sees the lost connection now, and retries against the lock still held.
			await waitFor(
				'the settlement to be retried on a new connection',
				async () => {
					const rows = await sql`select pid from pg_stat_activity
					where datname = ${dbName} and wait_event_type = 'Lock'
					and pid not in (${holderPid}, ${waiting})`;
					return rows.length === 1;
				},
				30_000,
				25
			);
		}

		const [hold] = await waitFor(
			'the hold to be settled',
			async () => {
				const rows = await holds(sql);
				return rows[0]?.status === 'settled' && rows;
			},
			30_000
		);
		const result = await reply;
		expect(result).toMatchObject({ status: 200 });
		const [receipt] = await sql`select metadata->'receipt' as receipt from chat_message
			where role = 'assistant'`;
		expect(receipt.receipt.credits).toBe(hold.charged);
		expect(hold.charged).toBeGreaterThan(0);
		// One settlement (settle:<hold id>), its rows taking exactly what the hold says it charged.
		const charges = await chargesByHold(sql);
		expect(charges.get(hold.id)).toEqual({ keys: [`settle:${hold.id}`], credits: hold.charged });
		const [{ balance }] = await sql`select sum(remaining_credits)::int as balance
			from credit_package where user_id = ${userId}`;
		expect(balance).toBe(1_000 - hold.charged!);
		expect(await reservedCredits(sql)).toBe(0);
		expect(await ledgerDrifts(database.url)).toEqual([]);
	});
});
