import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type postgres from 'postgres';
import { grant, verify } from '../../src/lib/server/credits';
import { openDatabase } from '../../src/lib/server/db/client';
import { signUp, type HttpClient } from '../helpers/http-client';

/** Polls `check` every `everyMs` until it returns a truthy value or `timeoutMs` passes. */
/**
 * The app's model settings in the fault suites: the local OpenAI-compatible upstream, one model
 * at 200 credits per 1,000 tokens (a credit every 5 tokens, so "owed so far" moves visibly) and
 * replies of at most 200 tokens.
 */
export function upstreamEnv(upstream: { url: string }): Record<string, string> {
	return {
		OPENAI_BASE_URL: upstream.url,
		OPENAI_API_KEY: 'test-key',
		OPENAI_API_STYLE: 'chat',
		CHAT_MODELS: 'big:200',
		CHAT_MAX_OUTPUT_TOKENS: '200'
	};
}

export async function waitFor<T>(
	what: string,
	check: () => Promise<T | undefined | null | false>,
	timeoutMs: number,
	everyMs = 200
): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await check();
		if (value) return value;
		if (Date.now() > deadline)
			throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
		await sleep(everyMs);
	}
}

/** A signed-up user of the app at `baseUrl` who bought `credits` never-expiring credits. */
export async function buyer(
	baseUrl: string,
	databaseUrl: string,
	credits: number
): Promise<{ client: HttpClient; userId: string }> {
	const account = await signUp(baseUrl, `${randomUUID()}@example.com`);
	const database = openDatabase({ url: databaseUrl, dataDir: null, maxConnections: 1 });
	try {
		await grant(database.db, {
			userId: account.userId,
			source: 'purchase',
			name: 'Test pack',
			credits,
			expiresAt: null,
			key: `test-grant:${randomUUID()}`
		});
	} finally {
		await database.close();
	}
	return account;
}

/** The ledger replay of every user (`npm run credits -- verify`): the drifts it finds. */
export async function ledgerDrifts(databaseUrl: string) {
	const database = openDatabase({ url: databaseUrl, dataDir: null, maxConnections: 1 });
	try {
		return (await verify(database.db)).drifts;
	} finally {
		await database.close();
	}
}

export interface HoldRow {
	id: string;
	userId: string;
	status: string;
	amount: number;
	owed: number;
	charged: number | null;
}

export async function holds(sql: postgres.Sql): Promise<HoldRow[]> {
	return (await sql`select id, user_id as "userId", status, amount, owed_credits as owed,
		charged_credits as charged from credit_hold order by created_at`) as unknown as HoldRow[];
}

/** Credits still set aside by pending holds. */
export async function reservedCredits(sql: postgres.Sql): Promise<number> {
	const [row] = await sql`select coalesce(sum(amount), 0)::int as reserved
		from credit_hold where status = 'pending'`;
	return row.reserved as number;
}

/**
 * How each hold was charged in the ledger: the idempotency keys of its rows (without the `#n`
 * suffix, one per ledger operation: `settle:<id>` or `sweep:<id>`) and the credits they took.
 */
export async function chargesByHold(
	sql: postgres.Sql
): Promise<Map<string, { keys: string[]; credits: number }>> {
	const rows =
		await sql`select split_part(idempotency_key, '#', 1) as key, -sum(amount)::int as credits
		from credit_transaction
		where idempotency_key ~ '^(settle|sweep):[0-9a-f-]{36}#'
		group by 1`;
	const byHold = new Map<string, { keys: string[]; credits: number }>();
	for (const row of rows) {
		const holdId = (row.key as string).split(':')[1];
		const entry = byHold.get(holdId) ?? { keys: [], credits: 0 };
		entry.keys.push(row.key as string);
		entry.credits += row.credits as number;
		byHold.set(holdId, entry);
	}
	return byHold;
}
