import { randomUUID } from 'node:crypto';
import { grantAdmin } from '../../src/lib/server/auth/admin-role';
import { openDatabase, type Db } from '../../src/lib/server/db/client';
import { user } from '../../src/lib/server/db/schema';

/** Inserts a user row directly (the ledger only needs the id to exist). */
export async function createUser(db: Db, email = `${randomUUID()}@example.com`): Promise<string> {
	const id = randomUUID();
	await db.insert(user).values({ id, name: email.split('@')[0], email, role: 'user' });
	return id;
}

/**
 * Makes the account with this email an admin the way `npm run admin:grant` does. ADMIN_EMAILS
 * promotes only verified addresses, and the suites' apps run without email verification.
 */
export async function grantAdminRole(databaseUrl: string, email: string): Promise<void> {
	const database = openDatabase({ url: databaseUrl, dataDir: null, maxConnections: 1 });
	try {
		const result = await grantAdmin(database.db, email);
		if (result === 'no-such-user') throw new Error(`grantAdminRole: no user ${email}`);
	} finally {
		await database.close();
	}
}
