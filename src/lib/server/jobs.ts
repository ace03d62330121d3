import { sweep } from './credits';
import type { Db } from './db/client';

/**
 * Runs the ledger sweep (expired packages, holds whose process died) every `intervalSeconds`
 * inside the server. Safe on every instance at once: the sweep re-checks each row under its
 * user's lock. Returns a function that stops it.
 */
export function startSweeps(db: Db, intervalSeconds: number): () => void {
	if (intervalSeconds <= 0) return () => {};
	let running = false;
	const run = async () => {
		if (running) return;
		running = true;
		try {
			const result = await sweep(db);
			const changed = Object.values(result).some((n) => n > 0);
			if (changed) console.log('[sweep]', JSON.stringify(result));
		} catch (error) {
			console.error('[sweep] failed; will retry on the next interval', error);
		} finally {
			running = false;
		}
	};
	const timer = setInterval(run, intervalSeconds * 1000);
	// Never keep the process alive just for the sweep.
	timer.unref();
	const first = setTimeout(run, 1000);
	first.unref();
	return () => {
		clearInterval(timer);
		clearTimeout(first);
	};
}
