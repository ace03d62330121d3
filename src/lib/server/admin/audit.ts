import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client';
import type { Executor } from '../credits/transaction';
import { adminAudit, type AdminAuditRow, type AuditAction } from '../db/schema';

/** Who acted: an admin (id and email), or the CLI. */
export interface Actor {
	id: string;
	email: string;
}

export const CLI_ACTOR: Actor = { id: 'cli', email: 'cli' };

export interface AuditEntry {
	actor: Actor;
	action: AuditAction;
	targetUserId?: string | null;
	reason: string;
	balanceBefore?: number | null;
	balanceAfter?: number | null;
	details?: Record<string, unknown>;
}

/** Appends one audit row; pass the ledger's transaction so the two commit together. */
export async function recordAudit(db: Executor, entry: AuditEntry): Promise<void> {
	await db.insert(adminAudit).values({
		actorId: entry.actor.id,
		actorEmail: entry.actor.email,
		action: entry.action,
		targetUserId: entry.targetUserId ?? null,
		reason: entry.reason,
		balanceBefore: entry.balanceBefore ?? null,
		balanceAfter: entry.balanceAfter ?? null,
		details: entry.details ?? {}
	});
}

export interface AuditPage {
	items: AdminAuditRow[];
	/** Pass back as `cursor` for the next (older) page; null on the last one. */
	nextCursor: string | null;
}

/** Admin actions newest first, optionally by one admin and/or on one user; keyset by id. */
export async function listAudit(
	db: Db,
	filter: { adminId?: string; userId?: string; cursor?: number; limit?: number }
): Promise<AuditPage> {
	const limit = filter.limit ?? 50;
	const conditions: SQL[] = [];
	if (filter.adminId) conditions.push(eq(adminAudit.actorId, filter.adminId));
	if (filter.userId) conditions.push(eq(adminAudit.targetUserId, filter.userId));
	if (filter.cursor !== undefined) conditions.push(lt(adminAudit.id, filter.cursor));
	const rows = await db
		.select()
		.from(adminAudit)
		.where(and(...conditions))
		.orderBy(desc(adminAudit.id))
		.limit(limit + 1);
	const items = rows.slice(0, limit);
	return {
		items,
		nextCursor: rows.length > limit ? String(items[items.length - 1].id) : null
	};
}
