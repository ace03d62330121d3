import { and, eq, gte, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { creditTransaction, creditUsageDaily, creditUsageRollup } from '../db/schema';

const DAY = 86_400_000;

/**
 * A day counts as over this long after its end. Ledger rows are stamped with the time of the
 * operation that commits them a moment later, so a day's rows are final well before this.
 */
export const USAGE_DAY_SETTLE_MS = 3_600_000;

export interface UsageDay {
	/** UTC calendar day, `YYYY-MM-DD`. */
	date: string;
	total: number;
	byModel: Record<string, number>;
}

export interface UsageChart {
	/** Oldest first, one entry per day including days without usage. */
	days: UsageDay[];
	/** Models that spent anything in the period, biggest spender first. */
	models: string[];
	total: number;
}

/** The first instant of the UTC day that contains `date`. */
export function startOfUtcDay(date: Date): Date {
	return new Date(Math.floor(date.getTime() / DAY) * DAY);
}

const isoDay = (date: Date) => date.toISOString().slice(0, 10);
const dayOf = sql<string>`to_char(${creditTransaction.createdAt} at time zone 'UTC', 'YYYY-MM-DD')`;
const modelOf = sql<string>`coalesce(${creditTransaction.metadata}->>'model', 'unknown')`;
const spent = sql<number>`-sum(${creditTransaction.amount})`.mapWith(Number);

/**
 * Credits spent on replies per UTC day over the last `days` days (today included), split by
 * the model recorded on each usage row. Days that are over come from credit_usage_daily (filled
 * here the first time they are asked for, from one range of the (user, type, time) index);
 * only the rows since then are summed live, so a long history costs the same as a short one.
 */
export async function usageByDay(
	db: Db,
	userId: string,
	options: { days?: number; now?: Date } = {}
): Promise<UsageChart> {
	const days = options.days ?? 30;
	const now = options.now ?? new Date();
	const since = new Date(startOfUtcDay(now).getTime() - (days - 1) * DAY);
	const settled = new Date(
		Math.max(
			since.getTime(),
			startOfUtcDay(new Date(now.getTime() - USAGE_DAY_SETTLE_MS)).getTime()
		)
	);

	const [rollup] = await db
		.select({ through: creditUsageRollup.through })
		.from(creditUsageRollup)
		.where(eq(creditUsageRollup.userId, userId));
	const missingFrom = new Date(
		Math.max(since.getTime(), rollup ? Date.parse(`${rollup.through}T00:00:00Z`) : 0)
	);
	if (missingFrom < settled) await rollUp(db, userId, missingFrom, settled);

	const [stored, live] = await Promise.all([
		db
			.select({
				day: creditUsageDaily.day,
				model: creditUsageDaily.model,
				credits: creditUsageDaily.credits
			})
			.from(creditUsageDaily)
			.where(
				and(
					eq(creditUsageDaily.userId, userId),
					gte(creditUsageDaily.day, isoDay(since)),
					lt(creditUsageDaily.day, isoDay(settled))
				)
			),
		usageSums(db, userId, settled)
	]);
	return chartOf(since, days, [...stored, ...live]);
}

/** Credits spent per UTC day and model in [from, to), or from `from` on. */
function usageSums(db: Db, userId: string, from: Date, to?: Date) {
	return db
		.select({ day: dayOf, model: modelOf, credits: spent })
		.from(creditTransaction)
		.where(
			and(
				eq(creditTransaction.userId, userId),
				eq(creditTransaction.type, 'usage'),
				gte(creditTransaction.createdAt, from),
				to ? lt(creditTransaction.createdAt, to) : undefined
			)
		)
		.groupBy(dayOf, modelOf);
}

/** Stores the per-day sums of [from, to) (whole UTC days) and moves the user's mark to `to`. */
async function rollUp(db: Db, userId: string, from: Date, to: Date): Promise<void> {
	const sums = await usageSums(db, userId, from, to);
	// Two requests may fill the same days at once: they compute the same sums, the first wins.
	if (sums.length > 0) {
		await db
			.insert(creditUsageDaily)
			.values(sums.map((row) => ({ userId, ...row })))
			.onConflictDoNothing();
	}
	await db
		.insert(creditUsageRollup)
		.values({ userId, through: isoDay(to) })
		.onConflictDoUpdate({
			target: creditUsageRollup.userId,
			set: { through: sql`greatest(${creditUsageRollup.through}, excluded.through)` }
		});
}

function chartOf(
	since: Date,
	days: number,
	rows: { day: string; model: string; credits: number }[]
): UsageChart {
	const byDate = new Map<string, UsageDay>();
	for (let i = 0; i < days; i++) {
		const date = isoDay(new Date(since.getTime() + i * DAY));
		byDate.set(date, { date, total: 0, byModel: {} });
	}
	const perModel = new Map<string, number>();
	for (const row of rows) {
		const entry = byDate.get(row.day);
		if (!entry) continue; // a row dated in the future (a clock ahead of ours) is not charted
		entry.byModel[row.model] = (entry.byModel[row.model] ?? 0) + row.credits;
		entry.total += row.credits;
		perModel.set(row.model, (perModel.get(row.model) ?? 0) + row.credits);
	}
	const models = [...perModel].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
	return {
		days: [...byDate.values()],
		models: models.map(([name]) => name),
		total: models.reduce((sum, [, credits]) => sum + credits, 0)
	};
}
