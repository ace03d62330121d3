import { eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../db/client';
import { user } from '../db/schema';
import { CLI_ACTOR, listAudit } from './audit';

/** An empty form field means "no filter", as a GET form without JavaScript sends it. */
const optional = <T extends z.ZodType>(schema: T) =>
	z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

/** A user id or an email address (an admin types the email; links carry the id). */
const person = z.string().trim().min(1, 'must not be empty').max(320, 'is too long');

/** `?admin=&user=&cursor=&limit=` of the audit API and page. */
export const auditQuery = z.object({
	admin: optional(person),
	user: optional(person),
	cursor: optional(
		z
			.string()
			.regex(/^[1-9]\d{0,15}$/, 'must be a nextCursor value from a previous page')
			.transform(Number)
			.refine(Number.isSafeInteger, 'must be a nextCursor value from a previous page')
	),
	limit: optional(
		z.coerce
			.number({ error: 'must be a whole number from 1 to 100' })
			.int('must be a whole number from 1 to 100')
			.min(1, 'must be a whole number from 1 to 100')
			.max(100, 'must be a whole number from 1 to 100')
	)
});

export type AuditQuery = z.infer<typeof auditQuery>;

export interface AuditEntryView {
	id: string;
	createdAt: string;
	actor: { id: string; email: string };
	action: string;
	/** The user acted on, with today's email (null when the account is gone). */
	target: { id: string; email: string | null } | null;
	reason: string;
	balanceBefore: number | null;
	balanceAfter: number | null;
	details: Record<string, unknown>;
}

export interface AuditView {
	items: AuditEntryView[];
	nextCursor: string | null;
}

/**
 * One page of the audit log for the API and the page: filters given as an id or an email
 * (an email nobody has matches nothing, it is not an error), targets shown with their email.
 */
export async function searchAudit(db: Db, query: AuditQuery): Promise<AuditView> {
	const [adminId, userId] = await Promise.all([idOf(db, query.admin), idOf(db, query.user)]);
	if (adminId === null || userId === null) return { items: [], nextCursor: null };
	const page = await listAudit(db, {
		adminId,
		userId,
		cursor: query.cursor,
		limit: query.limit ?? 50
	});
	const targetIds = [...new Set(page.items.flatMap((row) => row.targetUserId ?? []))];
	const emails = new Map(
		targetIds.length
			? (
					await db
						.select({ id: user.id, email: user.email })
						.from(user)
						.where(inArray(user.id, targetIds))
				).map((row) => [row.id, row.email])
			: []
	);
	return {
		items: page.items.map((row) => ({
			id: String(row.id),
			createdAt: row.createdAt.toISOString(),
			actor: { id: row.actorId, email: row.actorEmail },
			action: row.action,
			target: row.targetUserId
				? { id: row.targetUserId, email: emails.get(row.targetUserId) ?? null }
				: null,
			reason: row.reason,
			balanceBefore: row.balanceBefore,
			balanceAfter: row.balanceAfter,
			details: row.details
		})),
		nextCursor: page.nextCursor
	};
}

/** undefined: no filter; null: an email no account has; otherwise the id to filter on. */
async function idOf(db: Db, value: string | undefined): Promise<string | null | undefined> {
	if (value === undefined) return undefined;
	if (!value.includes('@') || value === CLI_ACTOR.email) return value;
	const [found] = await db
		.select({ id: user.id })
		.from(user)
		.where(eq(sql`lower(${user.email})`, value.toLowerCase()));
	return found?.id ?? null;
}
