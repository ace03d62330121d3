import { grantDueAllocations } from './billing/allocations';
import { reconcileOrders } from './billing/reconcile';
import type { Polar } from './billing/polar';
import { sweep } from './credits';
import { grantFreeMonthly, utcMonth } from './credits/free-monthly';
import type { Db } from './db/client';
import { log } from './log';
import { recordJobRun } from './metrics/record';
import { pruneRateLimits } from './security/rate-limit';

/** How far back the scheduled reconciliation looks; `npm run polar:reconcile` goes further. */
export const RECONCILE_WINDOW_DAYS = 3;

/**
 * Runs `work` every `intervalSeconds` inside the server (first after `firstAfterMs`), never two
 * runs at once, logging what it reports and any failure and counting each run by outcome
 * (credit_chat_job_runs_total). Returns a function that stops it.
 */
function every(
	name: string,
	intervalSeconds: number,
	firstAfterMs: number,
	work: () => Promise<string | null>
): () => void {
	if (intervalSeconds <= 0) return () => {};
	let running = false;
	const run = async () => {
		if (running) return;
		running = true;
		try {
			const report = await work();
			recordJobRun(name, 'ok');
			if (report) log.info({ job: name }, `[${name}] ${report}`);
		} catch (error) {
			recordJobRun(name, 'failed');
			log.error({ job: name, err: error }, `[${name}] failed; will retry on the next interval`);
		} finally {
			running = false;
		}
	};
	const timer = setInterval(run, intervalSeconds * 1000);
	// Never keep the process alive just for a job.
	timer.unref();
	const first = setTimeout(run, firstAfterMs);
	first.unref();
	return () => {
		clearInterval(timer);
		clearTimeout(first);
	};
}

/**
 * The ledger sweep (expired packages, holds whose process died), the monthly grants (months of
 * yearly and lifetime plans that are due, FREE_MONTHLY_CREDITS of the current UTC month) and old
 * rate-limit windows. Safe on every instance at once: the sweep re-checks each row under its
 * user's lock, and each monthly grant is unique per allocation-month and per user-month.
 */
export function startSweeps(
	db: Db,
	intervalSeconds: number,
	monthly: { freeMonthlyCredits: number; requireVerifiedEmail: boolean } = {
		freeMonthlyCredits: 0,
		requireVerifiedEmail: true
	}
): () => void {
	// The UTC month whose free credits this instance has handed out completely: the job then
	// skips the scan over all users until the month changes (new and newly verified users get
	// theirs from grantWelcomeCredits).
	let freeMonthDone: string | null = null;
	return every('sweep', intervalSeconds, 1000, async () => {
		const result = await sweep(db);
		const now = new Date();
		const allocated = await grantDueAllocations(db, now);
		let freeMonthly = 0;
		if (monthly.freeMonthlyCredits > 0 && freeMonthDone !== utcMonth(now)) {
			freeMonthly = await grantFreeMonthly(
				db,
				{ credits: monthly.freeMonthlyCredits, requireVerifiedEmail: monthly.requireVerifiedEmail },
				now
			);
			freeMonthDone = utcMonth(now);
		}
		// Spent rate-limit windows are only clutter; dropping them keeps the table small.
		await pruneRateLimits(db);
		const report = { ...result, allocated, freeMonthly };
		return Object.values(report).some((n) => n > 0) ? JSON.stringify(report) : null;
	});
}

/**
 * Polar reconciliation: grants paid orders of the last few days whose webhook never arrived
 * (Polar disables a failing endpoint and skips its pending events) and applies missed refunds.
 * Safe on every instance at once: each order grants at most once.
 */
export function startReconciliation(db: Db, polar: Polar, intervalSeconds: number): () => void {
	return every('polar-reconcile', intervalSeconds, 5000, async () => {
		const result = await reconcileOrders(db, polar, { days: RECONCILE_WINDOW_DAYS });
		const { granted, refunded, failed } = result;
		return granted.length || refunded.length || failed.length
			? JSON.stringify({ checked: result.checked, granted, refunded, failed })
			: null;
	});
}
