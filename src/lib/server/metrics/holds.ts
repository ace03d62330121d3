import { sql } from 'drizzle-orm';
import { selectRows } from '../db/client';
import { log } from '../log';

/** A scrape must answer even when the database does not: the gauges are then left out. */
const COUNT_TIMEOUT_MS = 1_000;

/**
 * Pending holds and the credits they set aside, counted at scrape time. The partial index on
 * pending holds (credit_hold_stale_idx) keeps it cheap whatever the table's size. Null when the
 * database is not reachable in time.
 */
export async function countPendingHolds(): Promise<{ holds: number; credits: number } | null> {
	// Imported when first needed: runtime.ts starts the jobs, which import the metrics.
	const { runtime } = await import('../runtime');
	let timer: NodeJS.Timeout | undefined;
	try {
		const { database } = await runtime();
		const count = selectRows<{ holds: number; credits: number }>(
			database.db,
			sql`select count(*)::int as holds, coalesce(sum(amount), 0)::int as credits
				from credit_hold where status = 'pending'`
		);
		const timeout = new Promise<null>((resolve) => {
			timer = setTimeout(() => resolve(null), COUNT_TIMEOUT_MS);
		});
		const rows = await Promise.race([count, timeout]);
		if (!rows) return null;
		return { holds: Number(rows[0].holds), credits: Number(rows[0].credits) };
	} catch (error) {
		log.warn({ err: error }, '[metrics] could not count pending holds');
		return null;
	} finally {
		clearTimeout(timer);
	}
}
