import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import {
	adjust,
	creditsOverview,
	grant,
	listTransactions,
	parseCursor,
	reserve,
	revokeFromPackage,
	settle,
	sweep,
	usageByDay,
	type HistoryFilter,
	type PackageSource
} from '../../src/lib/server/credits';
import { selectRows, type Db } from '../../src/lib/server/db/client';
import { HISTORY_COUNT_LIMIT, historyPage } from '../../src/lib/server/credits/history';
import { toHistoryFilter } from '../../src/lib/server/http/history-query';
import { databaseKinds, useTestDatabase } from '../helpers/databases';
import { at, expectNoDrift } from '../helpers/ledger';
import { createUser } from '../helpers/users';

let replies = 0;

/** A reply's charge, with the metadata the chat writes. */
async function reply(
	db: Db,
	userId: string,
	cost: number,
	model: string,
	now: Date,
	chatId = 'c1'
) {
	const hold = await reserve(db, {
		userId,
		upTo: cost,
		key: `r:${userId}:${++replies}`,
		now
	});
	await settle(db, {
		holdId: hold.holdId,
		cost,
		description: `Reply (${model})`,
		metadata: {
			model,
			inputTokens: cost * 600,
			outputTokens: cost * 400,
			totalTokens: cost * 1000,
			chatId,
			messageId: `m-${now.getTime()}`,
			aborted: false
		},
		now
	});
}

async function give(
	db: Db,
	userId: string,
	source: PackageSource,
	name: string,
	credits: number,
	now: Date,
	expiresAt: Date | null = null
) {
	const result = await grant(db, {
		userId,
		source,
		name,
		credits,
		expiresAt,
		key: `g:${userId}:${name}`,
		now
	});
	return result.packageId;
}

describe.each(databaseKinds)('the credits dashboard on %s', (kind) => {
	const database = useTestDatabase(kind);
	const db = () => database().db;
	const NOW = at(40); // 2026-12-11

	/**
	 * One user with a package in every state and a ledger row of every type, and a neighbour
	 * whose rows must never show up.
	 */
	async function seedEveryState() {
		const userId = await createUser(db());
		const otherId = await createUser(db());
		await give(db(), userId, 'purchase', 'Long gone', 5, at(-200), at(-150));
		await sweep(db(), { now: at(-100) }); // expire row; the package then ends > 90 days ago
		await give(db(), userId, 'purchase', 'Starter', 10, at(1));
		await reply(db(), userId, 10, 'gpt-4o-mini', at(2)); // Starter depleted
		const refunded = await give(db(), userId, 'purchase', 'Refunded', 20, at(3));
		await revokeFromPackage(db(), {
			packageId: refunded,
			credits: 20,
			key: `refund:${refunded}`,
			reason: 'Order refunded',
			now: at(4)
		});
		await give(db(), userId, 'signup_bonus', 'Welcome bonus', 8, at(5), at(30));
		await give(db(), userId, 'admin_grant', 'Admin grant', 50, at(6));
		await reply(db(), userId, 3, 'gpt-4o', at(10)); // from the bonus, expiring first
		await sweep(db(), { now: at(31) }); // the bonus expires with 5 left
		await give(db(), userId, 'subscription', 'Pro monthly', 100, at(32), at(45));
		await reply(db(), userId, 7, 'gpt-4o-mini', at(35), 'chat-a');
		await reply(db(), userId, 2, 'gpt-4o', at(36), 'chat-b');
		await adjust(db(), {
			userId,
			mode: 'add',
			credits: 3,
			reason: 'Goodwill',
			actor: 'test',
			key: `adjust:${userId}`,
			now: at(38)
		});
		await give(db(), otherId, 'purchase', 'Theirs', 1000, at(30));
		await reply(db(), otherId, 5, 'gpt-4o', at(35));
		await reply(db(), otherId, 4, 'claude', at(39));
		return { userId, otherId };
	}

	let seeded: Promise<{ userId: string; otherId: string }> | undefined;
	const everyState = () => (seeded ??= seedEveryState());

	type TransactionPage = Awaited<ReturnType<typeof listTransactions>>;

	/** Every row of the user's history in pages of `limit`, running `between` after each page. */
	async function everyPage(
		userId: string,
		options: Omit<Parameters<typeof listTransactions>[2], 'cursor'>,
		between: (page: TransactionPage) => Promise<void> = async () => {}
	) {
		const rows: TransactionPage['items'] = [];
		let cursor: string | null = null;
		do {
			const page: TransactionPage = await listTransactions(db(), userId, {
				...options,
				cursor: cursor ? parseCursor(cursor) : null
			});
			rows.push(...page.items);
			cursor = page.nextCursor;
			await between(page);
		} while (cursor);
		return rows;
	}

	it('shows the balance, the next expiry and every package state, live ones first', async () => {
		const { userId, otherId } = await everyState();
		const overview = await creditsOverview(db(), userId, NOW);
		expect(overview).toMatchObject({
			balance: 144,
			reserved: 0,
			available: 144,
			nextExpiry: { credits: 91, expiresAt: at(45).toISOString() }
		});
		expect(
			overview.packages.map((p) => [
				p.name,
				p.source,
				p.status,
				p.remainingCredits,
				p.initialCredits
			])
		).toEqual([
			['Pro monthly', 'subscription', 'active', 91, 100],
			['Admin grant', 'admin_grant', 'active', 50, 50],
			[expect.any(String), 'admin_grant', 'active', 3, 3],
			['Welcome bonus', 'signup_bonus', 'expired', 0, 8],
			['Starter', 'purchase', 'depleted', 0, 10],
			['Refunded', 'purchase', 'revoked', 0, 20]
		]);
		expect(overview.packages.map((p) => p.name)).not.toContain('Long gone');
		expect(overview.packages.map((p) => p.name)).not.toContain('Theirs');
		expect(overview.packages[0].createdAt).toBe(at(32).toISOString());
		// Further than 14 days ahead, no notice.
		expect((await creditsOverview(db(), userId, at(20))).nextExpiry).toBeNull();
		expect((await creditsOverview(db(), otherId, NOW)).balance).toBe(991);
		await expectNoDrift(db());
	});

	it('lists every row type newest first, with the usage metadata, and only the owner’s rows', async () => {
		const { userId, otherId } = await everyState();
		const page = await listTransactions(db(), userId, { limit: 50 });
		expect(page.nextCursor).toBeNull();
		expect(page.items.map((row) => [row.type, row.amount, row.balanceAfter])).toEqual([
			['adjust', 3, 144],
			['usage', -2, 141],
			['usage', -7, 143],
			['subscription', 100, 150],
			['expire', -5, 50],
			['usage', -3, 55],
			['grant', 50, 58],
			['bonus', 8, 8],
			['refund', -20, 0],
			['purchase', 20, 20],
			['usage', -10, 0],
			['purchase', 10, 10],
			['expire', -5, 0],
			['purchase', 5, 5]
		]);
		expect(new Set(page.items.map((row) => row.type))).toEqual(
			new Set(['bonus', 'purchase', 'subscription', 'grant', 'usage', 'refund', 'expire', 'adjust'])
		);
		expect(page.items[1].metadata).toMatchObject({
			model: 'gpt-4o',
			inputTokens: 1200,
			outputTokens: 800,
			chatId: 'chat-b'
		});
		const everyone = await listTransactions(db(), otherId, { limit: 50 });
		expect(everyone.items.length).toBeGreaterThan(0);
		const ids = new Set(page.items.map((row) => row.id));
		expect(everyone.items.some((row) => ids.has(row.id))).toBe(false);
	});

	it('filters by type and by UTC days, both ends included, and pages within a filter', async () => {
		const { userId } = await everyState();
		const list = async (filter: HistoryFilter, limit = 50) =>
			(await listTransactions(db(), userId, { ...filter, limit })).items.map((row) => [
				row.type,
				row.createdAt.slice(0, 10)
			]);

		expect(await list({ types: ['usage'] })).toEqual([
			['usage', '2026-12-07'],
			['usage', '2026-12-06'],
			['usage', '2026-11-11'],
			['usage', '2026-11-03']
		]);
		expect((await list({ types: ['purchase', 'subscription'] })).map(([type]) => type)).toEqual([
			'subscription',
			'purchase',
			'purchase',
			'purchase'
		]);
		// at(31) .. at(36) are 2 Dec .. 7 Dec 00:00 UTC.
		expect(await list(toHistoryFilter({ from: '2026-12-02', to: '2026-12-07' }))).toEqual([
			['usage', '2026-12-07'],
			['usage', '2026-12-06'],
			['subscription', '2026-12-03'],
			['expire', '2026-12-02']
		]);
		expect(await list(toHistoryFilter({ from: '2026-12-03', to: '2026-12-06' }))).toEqual([
			['usage', '2026-12-06'],
			['subscription', '2026-12-03']
		]);
		expect(
			await list(toHistoryFilter({ type: ['usage'], from: '2026-11-01', to: '2026-11-30' }))
		).toEqual([
			['usage', '2026-11-11'],
			['usage', '2026-11-03']
		]);
		expect(await list(toHistoryFilter({ from: '2027-01-01' }))).toEqual([]);

		const filter = toHistoryFilter({ type: ['usage', 'purchase'] });
		const seen = (await everyPage(userId, { ...filter, limit: 3 })).map((row) => row.type);
		expect(seen).toEqual(['usage', 'usage', 'usage', 'purchase', 'usage', 'purchase', 'purchase']);
	});

	it('charts usage per UTC day and model over the last 30 days, for this user only', async () => {
		const { userId, otherId } = await everyState();
		const chart = await usageByDay(db(), userId, { days: 30, now: NOW });
		expect(chart.days).toHaveLength(30);
		expect(chart.days[0].date).toBe('2026-11-12');
		expect(chart.days[29].date).toBe('2026-12-11');
		expect(chart.total).toBe(9);
		expect(chart.models).toEqual(['gpt-4o-mini', 'gpt-4o']);
		expect(chart.days.filter((day) => day.total > 0)).toEqual([
			{ date: '2026-12-06', total: 7, byModel: { 'gpt-4o-mini': 7 } },
			{ date: '2026-12-07', total: 2, byModel: { 'gpt-4o': 2 } }
		]);
		// The reply on 11 Nov is 30 days back: outside the window that ends today.
		expect(chart.days.reduce((sum, day) => sum + day.total, 0)).toBe(9);

		const theirs = await usageByDay(db(), otherId, { days: 30, now: NOW });
		expect(theirs.models).toEqual(['gpt-4o', 'claude']);
		expect(theirs.total).toBe(9);

		const fresh = await createUser(db());
		const empty = await usageByDay(db(), fresh, { days: 30, now: NOW });
		expect(empty).toMatchObject({ total: 0, models: [] });
		expect(empty.days.every((day) => day.total === 0)).toBe(true);
	});

	it('keeps the chart right as days pass, storing the sums of days that are over', async () => {
		const userId = await createUser(db());
		await give(db(), userId, 'purchase', 'Big', 1000, at(0));
		const hour = 3_600_000;
		const t = (days: number, hours = 0) => new Date(at(days).getTime() + hours * hour);
		await reply(db(), userId, 4, 'a', t(1, 10));
		await reply(db(), userId, 6, 'b', t(1, 23.9));
		await reply(db(), userId, 5, 'a', t(2, 0.2));
		const stored = () =>
			db().execute(
				sql`select day::text as day, model, credits::int as credits from credit_usage_daily where user_id = ${userId} order by day, model`
			);
		const rowsOf = (result: unknown) =>
			(Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as {
				day: string;
				model: string;
				credits: number;
			}[];
		const used = (chart: Awaited<ReturnType<typeof usageByDay>>) =>
			chart.days.filter((d) => d.total > 0).map((d) => [d.date, d.byModel]);

		// 30 minutes into 3 Nov: 2 Nov is not an hour over yet, so it is still summed live.
		const first = await usageByDay(db(), userId, { now: t(2, 0.5) });
		expect(used(first)).toEqual([
			['2026-11-02', { a: 4, b: 6 }],
			['2026-11-03', { a: 5 }]
		]);
		expect(rowsOf(await stored()).map((r) => r.day)).toEqual([]);

		await reply(db(), userId, 7, 'b', t(2, 3));
		const later = await usageByDay(db(), userId, { now: t(2, 5) });
		expect(used(later)).toEqual([
			['2026-11-02', { a: 4, b: 6 }],
			['2026-11-03', { a: 5, b: 7 }]
		]);
		expect(rowsOf(await stored())).toEqual([
			{ day: '2026-11-02', model: 'a', credits: 4 },
			{ day: '2026-11-02', model: 'b', credits: 6 }
		]);

		await reply(db(), userId, 1, 'a', t(3, 12));
		const nextDay = await usageByDay(db(), userId, { now: t(3, 13) });
		expect(used(nextDay)).toEqual([
			['2026-11-02', { a: 4, b: 6 }],
			['2026-11-03', { a: 5, b: 7 }],
			['2026-11-04', { a: 1 }]
		]);
		expect(nextDay.total).toBe(23);
		expect(rowsOf(await stored())).toHaveLength(4);
		// A month on, the stored days have left the window.
		const monthLater = await usageByDay(db(), userId, { now: t(40) });
		expect(monthLater.total).toBe(0);
	});

	it('shows a new user an empty dashboard', async () => {
		const userId = await createUser(db());
		expect(await creditsOverview(db(), userId, NOW)).toEqual({
			balance: 0,
			reserved: 0,
			available: 0,
			packages: [],
			nextExpiry: null
		});
		expect(await listTransactions(db(), userId, { limit: 25 })).toEqual({
			items: [],
			nextCursor: null
		});
	});

	it('keeps pages stable while new rows arrive: nothing repeated, nothing skipped', async () => {
		const userId = await createUser(db());
		await give(db(), userId, 'purchase', 'Big', 1000, at(0));
		for (let i = 1; i <= 9; i++) await reply(db(), userId, i, 'm', at(i / 100));
		const before = (await listTransactions(db(), userId, { limit: 100 })).items.map((r) => r.id);
		expect(before).toHaveLength(10);

		let round = 0;
		const rows = await everyPage(userId, { limit: 3 }, async (page) => {
			// Between pages: a newer reply, and one stamped with the boundary row's very time.
			round++;
			await reply(db(), userId, 1, 'm', at(1 + round));
			const boundary = page.items[page.items.length - 1];
			await reply(db(), userId, 1, 'm', new Date(boundary.createdAt));
		});
		const seen = rows.map((row) => row.id);
		expect(seen).toEqual(before);
		expect(new Set(seen).size).toBe(seen.length);
	});

	it('counts the history up to 10,000 rows and then says "10,000+"', async () => {
		const userId = await createUser(db());
		// 10,010 membership usage rows (0 credits, no package), 1 ms apart, in one statement.
		await db().execute(sql`
			insert into credit_transaction
				(user_id, type, amount, balance_after, description, idempotency_key, created_at)
			select ${userId}, 'usage', 0, 0, 'Reply', ${userId} || ':' || n,
				${at(1).toISOString()}::timestamptz + n * interval '1 millisecond'
			from generate_series(1, ${HISTORY_COUNT_LIMIT + 10}) n`);
		const first = await historyPage(db(), userId, { limit: 25 });
		expect(first.items).toHaveLength(25);
		expect(first).toMatchObject({ total: HISTORY_COUNT_LIMIT, totalAtLeast: true, offset: 0 });
		// The oldest rows are more than 10,000 rows down: their position is not counted.
		const [oldest] = await selectRows<{ id: number; time: string }>(
			db(),
			sql`select id, created_at::text as time from credit_transaction where user_id = ${userId}
				order by created_at, id offset 5 limit 1`
		);
		const deep = await historyPage(db(), userId, {
			limit: 25,
			cursor: { time: oldest.time, id: Number(oldest.id) }
		});
		expect(deep.items).toHaveLength(5);
		expect(deep).toMatchObject({ total: HISTORY_COUNT_LIMIT, totalAtLeast: true, offset: null });
		// Below the limit the counts are exact.
		const filtered = await historyPage(db(), userId, {
			limit: 25,
			from: at(1),
			to: new Date(at(1).getTime() + 101)
		} as HistoryFilter & { limit: number });
		expect(filtered).toMatchObject({ total: 100, totalAtLeast: false, offset: 0 });
	});

	it('pages through rows that share a millisecond but not a microsecond', async () => {
		const userId = await createUser(db());
		// Written by SQL the way credit_settle() stamps rows, with microseconds JavaScript cannot hold.
		for (const [n, micros] of [
			[1, '000100'],
			[2, '000300'],
			[3, '000200']
		] as const) {
			await db().execute(sql`
				insert into credit_transaction (user_id, type, amount, balance_after, description, idempotency_key, created_at)
				values (${userId}, 'adjust', ${n}, ${n}, ${`row ${n}`}, ${`micro:${userId}:${n}`},
					${`2026-11-05T10:00:00.${micros}Z`}::timestamptz)`);
		}
		const seen = (await everyPage(userId, { limit: 1 })).map((row) => row.description);
		expect(seen).toEqual(['row 2', 'row 3', 'row 1']);
	});
});
