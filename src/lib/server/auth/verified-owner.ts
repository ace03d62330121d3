import { and, inArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { user } from '../db/schema';

/**
 * Makes every verified account whose email is in ADMIN_EMAILS an admin, and returns their
 * addresses. Runs at start-up and after each verification: a role follows proof of the
 * address, never the mere typing of it at sign-up.
 */
export async function promoteVerifiedAdmins(db: Db, adminEmails: Set<string>): Promise<string[]> {
	if (adminEmails.size === 0) return [];
	const promoted = await db
		.update(user)
		.set({ role: 'admin' })
		.where(
			and(
				inArray(sql`lower(${user.email})`, [...adminEmails]),
				sql`${user.emailVerified}`,
				sql`${user.role} is distinct from 'admin'`
			)
		)
		.returning({ email: user.email });
	return promoted.map((row) => row.email);
}
