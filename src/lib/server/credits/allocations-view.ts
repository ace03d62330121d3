import { desc, eq } from 'drizzle-orm';
import type { AllocationView } from '../../types';
import { creditAllocation } from '../db/schema';
import type { Executor } from './transaction';

/**
 * The user's monthly allocation schedules (yearly and lifetime plans), newest first, for
 * "3,000 credits a month · 4 of 12 granted · next allocation on 1 Feb 2027". Read-only.
 */
export async function allocationsOf(db: Executor, userId: string): Promise<AllocationView[]> {
	const rows = await db
		.select()
		.from(creditAllocation)
		.where(eq(creditAllocation.userId, userId))
		.orderBy(desc(creditAllocation.createdAt));
	return rows.map((row) => {
		const stopped = row.stoppedAt !== null;
		const done = row.monthsGranted >= row.months;
		return {
			id: row.id,
			name: row.name,
			credits: row.credits,
			monthsGranted: row.monthsGranted,
			months: row.months,
			nextAt: stopped || done ? null : (row.nextAt?.toISOString() ?? null),
			stopped
		};
	});
}
