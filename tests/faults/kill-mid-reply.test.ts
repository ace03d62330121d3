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
	type HoldRow,
	upstreamEnv,
	waitFor
} from './support';

const REPLIES = 20;
const USERS = 4;
const HOLD_TTL_SECONDS = 20;
const SWEEP_SECONDS = 2;

/**
 * A crash in the middle of 20 streamed replies: the server is killed with SIGKILL (no shutdown
 * hook runs), so nothing settles the holds. A restarted instance's sweeper must find each of
 * them once its lifetime is over and charge exactly what the dead process recorded as owed
 * (`recordOwed`, written about every second while streaming), once.
 */
describe('kill -9 while 20 replies stream', () => {
	let upstream: OpenAIServer;
	let database: { url: string; drop(): Promise<void> };
	let sql: postgres.Sql;
	let first: LaunchedApp | undefined;
	let second: LaunchedApp | undefined;
	let env: Record<string, string>;

	beforeAll(async () => {
		// 400 ms per token: a 55-token reply takes ~22 s, so every reply is mid-stream at the kill.
		upstream = await startOpenAIServer({ delayMs: 400 });
		database = await createPostgresDatabase();
		sql = postgres(database.url, { max: 2, onnotice: () => {} });
		env = {
			DATABASE_URL: database.url,
			...upstreamEnv(upstream),
			CHAT_MAX_CONCURRENT: String(REPLIES),
			SIGNUP_BONUS_CREDITS: '0',
			CHAT_HOLD_TTL_SECONDS: String(HOLD_TTL_SECONDS),
			SWEEP_INTERVAL_SECONDS: String(SWEEP_SECONDS)
		};
		first = await launchApp(env);
	});
	afterAll(async () => {
		await first?.stop();
		await second?.stop();
		await sql?.end();
		await database?.drop();
		await upstream?.close();
	});

	it('resolves every orphaned hold once, for what was owed, after a restart', async () => {
		const app = first!;
		const users = await Promise.all(
			Array.from({ length: USERS }, () => buyer(app.url, database.url, 10_000))
		);
		const replies = Array.from({ length: REPLIES }, (_, i) =>
			sendChat(users[i % USERS].client, { model: 'big', text: `Question ${i}` }).catch(
				(error: unknown) => error
			)
		);
		// Every reply streams and has recorded what it owes at least once.
		await waitFor(
			'20 replies to be streaming with their debt recorded',
			async () => {
				const rows = await holds(sql);
				return (
					rows.length === REPLIES &&
					rows.every((h) => h.status === 'pending' && h.owed > 0) &&
					upstream.requests.filter((r) => r.chunksSent >= 3).length === REPLIES
				);
			},
			60_000
		);
		process.kill(app.pid, 'SIGKILL');
		await Promise.all(replies);
		await waitFor('the killed app to exit', async () => !isAlive(app.pid), 10_000, 50);

		// What the dead process left: 20 pending holds and what each owes. Nothing changes them now.
		const orphaned = await holds(sql);
		expect(orphaned).toHaveLength(REPLIES);
		expect(orphaned.every((h) => h.status === 'pending')).toBe(true);
		const owedAtCrash = new Map(orphaned.map((h) => [h.id, h.owed]));
		expect([...owedAtCrash.values()].every((owed) => owed > 0)).toBe(true);
		const [{ latest }] = await sql`select max(expires_at) as latest from credit_hold`;
		expect(new Date(latest).getTime() - Date.now()).toBeLessThanOrEqual(HOLD_TTL_SECONDS * 1000);

		second = await launchApp(env);
		// Within the hold lifetime plus one sweep (and a margin for a busy machine).
		const budget = new Date(latest).getTime() - Date.now() + SWEEP_SECONDS * 1000 + 15_000;
		const resolved = await waitFor(
			'the sweeper to resolve every orphaned hold',
			async () => {
				const rows = await holds(sql);
				return rows.every((h) => h.status !== 'pending') && rows;
			},
			budget
		);

		const charges = await chargesByHold(sql);
		for (const hold of resolved as HoldRow[]) {
			const owed = owedAtCrash.get(hold.id)!;
			expect(hold).toMatchObject({ status: 'settled', charged: owed });
			// Exactly one ledger operation took the credits, the sweeper's.
			expect(charges.get(hold.id)).toEqual({ keys: [`sweep:${hold.id}`], credits: owed });
		}
		expect(await reservedCredits(sql)).toBe(0);
		const [{ spent }] = await sql`select -sum(amount)::int as spent from credit_transaction
			where type = 'usage'`;
		expect(spent).toBe([...owedAtCrash.values()].reduce((a, b) => a + b, 0));
		expect(await ledgerDrifts(database.url)).toEqual([]);
	});
});

function isAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
}
