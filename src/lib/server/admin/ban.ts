import { AppError } from '../errors';
import type { Auth } from '../auth/auth';
import type { Db } from '../db/client';
import { recordAudit, type Actor } from './audit';
import { userExists } from './users';

export interface BanInput {
	actor: Actor;
	userId: string;
	banned: boolean;
	reason: string;
	/** The admin's request headers: better-auth checks the admin's own session on them. */
	headers: Headers;
}

/**
 * Bans (which also ends the user's sessions) or unbans through better-auth's admin plugin, then
 * writes the audit row. better-auth writes on its own connection, so the two cannot share a
 * transaction; the audit row comes second so that a refused ban is never logged as done.
 */
export async function setBanned(auth: Auth, db: Db, input: BanInput): Promise<void> {
	if (input.banned && input.userId === input.actor.id) {
		throw new AppError(400, 'cannot_ban_self', 'You cannot ban yourself.', { field: 'userId' });
	}
	if (!(await userExists(db, input.userId))) {
		throw new AppError(404, 'user_not_found', 'There is no such user.');
	}
	const reason = input.reason.trim();
	if (input.banned) {
		await auth.api.banUser({
			body: { userId: input.userId, banReason: reason },
			headers: input.headers
		});
	} else {
		await auth.api.unbanUser({ body: { userId: input.userId }, headers: input.headers });
	}
	await recordAudit(db, {
		actor: input.actor,
		action: input.banned ? 'user.ban' : 'user.unban',
		targetUserId: input.userId,
		reason
	});
}
