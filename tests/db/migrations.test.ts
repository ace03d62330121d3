import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { grantAdmin } from '../../src/lib/server/auth/admin-role';
import { openDatabase, ping, selectRows } from '../../src/lib/server/db/client';
import { user } from '../../src/lib/server/db/schema';
import { createPostgresDatabase, databaseKinds, useTestDatabase } from '../helpers/databases';

describe.each(databaseKinds)('schema and migrations on %s', (kind) => {
	const database = useTestDatabase(kind);

	it('creates the account tables', async () => {
		const rows = await selectRows<{ table_name: string }>(
			database().db,
			sql`select table_name from information_schema.tables where table_schema = 'public' order by 1`
		);
		const tables = rows.map((row) => row.table_name);
		expect(tables).toEqual(expect.arrayContaining(['account', 'session', 'user', 'verification']));
	});

	it('applies migrations idempotently: a second run changes nothing', async () => {
		await database().migrate('drizzle');
		const rows = await selectRows<{ n: number }>(
			database().db,
			sql`select count(*)::int as n from drizzle.__drizzle_migrations`
		);
		expect(rows[0].n).toBeGreaterThan(0);
		await expect(ping(database().db)).resolves.toBeUndefined();
	});

	it('grants the admin role by email, case-insensitively', async () => {
		const { db } = database();
		await db.insert(user).values({ id: 'u1', name: 'Lin', email: 'lin@example.com', role: 'user' });
		expect(await grantAdmin(db, 'LIN@example.com')).toBe('promoted');
		expect(await grantAdmin(db, 'lin@example.com')).toBe('already-admin');
		expect(await grantAdmin(db, 'nobody@example.com')).toBe('no-such-user');
		const [row] = await db.select({ role: user.role }).from(user);
		expect(row.role).toBe('admin');
	});
});

describe('migrations on PostgreSQL from several instances at once', () => {
	it('serialise on the advisory lock instead of failing, even with a pool of one', async () => {
		const created = await createPostgresDatabase();
		const instances = Array.from({ length: 4 }, () =>
			openDatabase({ url: created.url, dataDir: null, maxConnections: 1 })
		);
		try {
			await Promise.all(instances.map((instance) => instance.migrate('drizzle')));
			const rows = await selectRows<{ n: number }>(
				instances[0].db,
				sql`select count(*)::int as n from drizzle.__drizzle_migrations`
			);
			const journal = await import('../../drizzle/meta/_journal.json');
			expect(rows[0].n).toBe(journal.entries.length);
		} finally {
			await Promise.all(instances.map((instance) => instance.close()));
			await created.drop();
		}
	});
});
