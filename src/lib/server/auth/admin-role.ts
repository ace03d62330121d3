import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { user } from '../db/schema';

export type GrantAdminResult = 'promoted' | 'already-admin' | 'no-such-user';

/** Makes the user with this email an admin (used by `npm run admin:grant`). */
export async function grantAdmin(db: Db, email: string): Promise<GrantAdminResult> {
	const normalized = email.trim().toLowerCase();
	const [found] = await db
		.select({ id: user.id, role: user.role })
		.from(user)
		.where(eq(sql`lower(${user.email})`, normalized));
	if (!found) return 'no-such-user';
	if (found.role === 'admin') return 'already-admin';
	await db.update(user).set({ role: 'admin' }).where(eq(user.id, found.id));
	return 'promoted';
}
