import { randomUUID } from 'node:crypto';
import type { Db } from '../../src/lib/server/db/client';
import { user } from '../../src/lib/server/db/schema';

/** Inserts a user row directly (the ledger only needs the id to exist). */
export async function createUser(db: Db, email = `${randomUUID()}@example.com`): Promise<string> {
	const id = randomUUID();
	await db.insert(user).values({ id, name: email.split('@')[0], email, role: 'user' });
	return id;
}
