import { and, eq, gte, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { creditTransaction } from '../db/schema';

const DAY = 86_400_000;

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

/**
 * Credits spent on replies per UTC day over the last `days` days (today included), split by
 * the model recorded on each usage row. One range of the (user, type, time) index.
 */
export async function usageByDay(
	db: Db,
	userId: string,
	options: { days?: number; now?: Date } = {}
): Promise<UsageChart> {
	const days = options.days ?? 30;
	const since = new Date(startOfUtcDay(options.now ?? new Date()).getTime() - (days - 1) * DAY);
	const day = sql<string>`to_char(${creditTransaction.createdAt} at time zone 'UTC', 'YYYY-MM-DD')`;
	const model = sql<string>`coalesce(${creditTransaction.metadata}->>'model', 'unknown')`;
	const rows = await db
		.select({ day, model, credits: sql<number>`-sum(${creditTransaction.amount})`.mapWith(Number) })
		.from(creditTransaction)
		.where(
			and(
				eq(creditTransaction.userId, userId),
				eq(creditTransaction.type, 'usage'),
				gte(creditTransaction.createdAt, since)
			)
		)
		.groupBy(day, model);

	const byDate = new Map<string, UsageDay>();
	for (let i = 0; i < days; i++) {
		const date = new Date(since.getTime() + i * DAY).toISOString().slice(0, 10);
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
