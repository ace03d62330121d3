import { and, eq, isNull, sql } from 'drizzle-orm';
import { selectRows, type Db } from '../db/client';
import { polarCheckout } from '../db/schema';
import { AppError } from '../errors';

/** A checkout of the same pack started less than this long ago is reused. */
export const CHECKOUT_REUSE_SECONDS = 60;
// How long a second click waits for the first one's Polar call to come back.
const WAIT_MS = 10_000;
const POLL_MS = 100;

/**
 * The buyer's open checkout for this product: the one started in the last minute, or a new one
 * from `create`. The claim is one atomic upsert, so 30 parallel clicks on any number of
 * instances make one Polar checkout, and every click is sent to it.
 */
export async function openCheckout(
	db: Db,
	target: { userId: string; productId: string },
	create: () => Promise<string>
): Promise<string> {
	const claimed = await selectRows<{ user_id: string }>(
		db,
		sql`insert into polar_checkout (user_id, product_id, url, created_at)
			values (${target.userId}, ${target.productId}, null, now())
			on conflict (user_id, product_id) do update set url = null, created_at = now()
			where polar_checkout.created_at <= now() - make_interval(secs => ${CHECKOUT_REUSE_SECONDS})
			returning user_id`
	);
	const row = and(
		eq(polarCheckout.userId, target.userId),
		eq(polarCheckout.productId, target.productId)
	);
	if (claimed.length > 0) {
		try {
			const url = await create();
			await db.update(polarCheckout).set({ url }).where(row);
			return url;
		} catch (error) {
			// Let the next click try again at once rather than wait out the minute.
			await db.delete(polarCheckout).where(and(row, isNull(polarCheckout.url)));
			throw error;
		}
	}
	for (let waited = 0; waited < WAIT_MS; waited += POLL_MS) {
		const [existing] = await db.select({ url: polarCheckout.url }).from(polarCheckout).where(row);
		if (existing?.url) return existing.url;
		if (!existing) break; // the first click failed; its error was shown to it
		await new Promise((resolve) => setTimeout(resolve, POLL_MS));
	}
	throw new AppError(
		409,
		'checkout_pending',
		'Your checkout is still being prepared. Please try again in a moment.'
	);
}
