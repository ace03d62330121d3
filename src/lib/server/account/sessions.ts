import { and, desc, eq, gt } from 'drizzle-orm';
import type { Db } from '../db/client';
import { session } from '../db/schema';
import type { SessionView } from '../../types';
import { describeUserAgent } from './device';

/**
 * The user's live sessions, newest activity first, read from our own table rather than through
 * better-auth's `listSessions`, which refuses sessions older than its "fresh" age (one day).
 */
export async function listSessions(
	db: Db,
	userId: string,
	currentSessionId: string | null,
	now = new Date()
): Promise<SessionView[]> {
	const rows = await db
		.select({
			id: session.id,
			userAgent: session.userAgent,
			ipAddress: session.ipAddress,
			createdAt: session.createdAt,
			updatedAt: session.updatedAt
		})
		.from(session)
		.where(and(eq(session.userId, userId), gt(session.expiresAt, now)))
		.orderBy(desc(session.updatedAt), desc(session.createdAt))
		.limit(100);
	const views = rows.map((row) => ({
		id: row.id,
		device: describeUserAgent(row.userAgent),
		ipAddress: row.ipAddress || null,
		signedInAt: row.createdAt.toISOString(),
		lastActiveAt: row.updatedAt.toISOString(),
		current: row.id === currentSessionId
	}));
	// This device first, whatever its last activity says.
	return views.sort((a, b) => Number(b.current) - Number(a.current));
}

/**
 * The token of one of the user's own sessions (for better-auth's `revokeSession`), or null when
 * the id is not theirs: the browser only ever sees and posts session ids.
 */
export async function sessionTokenOf(
	db: Db,
	userId: string,
	sessionId: string
): Promise<string | null> {
	const [row] = await db
		.select({ token: session.token })
		.from(session)
		.where(and(eq(session.id, sessionId), eq(session.userId, userId)));
	return row?.token ?? null;
}
