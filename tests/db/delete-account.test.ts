import { createHash, randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import {
	ACCOUNT_DELETED_REASON,
	deleteAccount,
	deletedEmail
} from '../../src/lib/server/account/delete-account';
import { listSessions, sessionTokenOf } from '../../src/lib/server/account/sessions';
import { balanceOf, grant, reserve, settle, voidHold } from '../../src/lib/server/credits';
import type { Db } from '../../src/lib/server/db/client';
import {
	account,
	adminAudit,
	chat,
	chatMessage,
	creditHold,
	creditPackage,
	session,
	user,
	verification
} from '../../src/lib/server/db/schema';
import { AppError } from '../../src/lib/server/errors';
import { databaseKinds, useTestDatabase } from '../helpers/databases';
import { at, DAY, expectNoDrift, ledgerRows } from '../helpers/ledger';
import { createUser } from '../helpers/users';

/**
 * A user as the app makes them: a credential account, two sessions, a pending verification,
 * a signup bonus and a bought pack, two replies charged and one voided, two chats with messages.
 */
async function populatedUser(db: Db) {
	const email = `${randomUUID()}@example.com`;
	const userId = await createUser(db, email);
	await db
		.update(user)
		.set({ emailVerified: true, image: 'https://example.com/a.png' })
		.where(eq(user.id, userId));
	await db.insert(account).values({
		id: randomUUID(),
		accountId: userId,
		providerId: 'credential',
		userId,
		password: 'scrypt-hash-of-the-password',
		updatedAt: new Date()
	});
	for (const n of [1, 2]) {
		await db.insert(session).values({
			id: randomUUID(),
			token: randomUUID(),
			userId,
			expiresAt: new Date(Date.now() + 7 * DAY),
			updatedAt: new Date(),
			userAgent: `agent ${n}`
		});
	}
	await db.insert(verification).values([
		{ id: randomUUID(), identifier: email, value: 'code', expiresAt: at(2) },
		// better-auth with `verification: { storeIdentifier: 'hashed' }`.
		{
			id: randomUUID(),
			identifier: createHash('sha256').update(email).digest('base64url'),
			value: 'hashed code',
			expiresAt: at(2)
		},
		{
			id: randomUUID(),
			identifier: `reset-password:${randomUUID()}`,
			value: userId,
			expiresAt: at(2)
		}
	]);
	await grant(db, {
		userId,
		source: 'signup_bonus',
		name: 'Welcome',
		credits: 8,
		expiresAt: new Date(at(0).getTime() + 30 * DAY),
		key: `bonus:${userId}`,
		now: at(0)
	});
	await grant(db, {
		userId,
		source: 'purchase',
		name: 'Pack',
		credits: 1000,
		expiresAt: null,
		key: `order:${userId}`,
		now: at(0)
	});
	for (const [i, cost] of [12, 5].entries()) {
		const hold = await reserve(db, { userId, upTo: 50, key: `r:${userId}:${i}`, now: at(0.1) });
		await settle(db, { holdId: hold.holdId, cost, now: at(0.2) });
	}
	const voided = await reserve(db, { userId, upTo: 20, key: `r:${userId}:v`, now: at(0.3) });
	await voidHold(db, { holdId: voided.holdId, now: at(0.3) });
	for (const chatId of [randomUUID(), randomUUID()]) {
		await db.insert(chat).values({ id: chatId, userId, title: 'Hello', model: 'demo' });
		await db.insert(chatMessage).values([
			{ chatId, id: 'm1', userId, role: 'user', parts: [{ type: 'text', text: 'Hi' }] },
			{ chatId, id: 'm2', userId, role: 'assistant', parts: [{ type: 'text', text: 'Hello' }] }
		]);
	}
	return { userId, email };
}

const countWhere = async (db: Db, table: typeof chat | typeof chatMessage, userId: string) =>
	(await db.select().from(table).where(eq(table.userId, userId))).length;

describe.each(databaseKinds)('account deletion on %s', (kind) => {
	const database = useTestDatabase(kind);
	const db = () => database().db;

	it('erases the person, keeps the ledger and forfeits the credits through it', async () => {
		const { userId, email } = await populatedUser(db());
		const bystander = await populatedUser(db());
		const ledgerBefore = await ledgerRows(db(), userId);
		const packagesBefore = await db()
			.select()
			.from(creditPackage)
			.where(eq(creditPackage.userId, userId));
		expect((await balanceOf(db(), userId, at(1))).balance).toBe(1008 - 17);

		const result = await deleteAccount(db(), { userId, now: at(1) });
		expect(result).toEqual({ userId, forfeited: 991, chats: 2, sessions: 2 });

		// What the person put in is gone.
		expect(await countWhere(db(), chat, userId)).toBe(0);
		expect(await countWhere(db(), chatMessage, userId)).toBe(0);
		expect(await db().select().from(session).where(eq(session.userId, userId))).toEqual([]);
		expect(await db().select().from(account).where(eq(account.userId, userId))).toEqual([]);
		const hash = (text: string) => createHash('sha256').update(text).digest('base64url');
		const tokensOf = async (person: { userId: string; email: string }) =>
			(await db().select().from(verification)).filter(
				(t) =>
					t.value === person.userId || [person.email, hash(person.email)].includes(t.identifier)
			);
		expect(await tokensOf({ userId, email })).toEqual([]);
		expect(await tokensOf(bystander)).toHaveLength(3);

		// The user row stays, anonymised and unable to sign in.
		const [row] = await db().select().from(user).where(eq(user.id, userId));
		expect(row).toMatchObject({
			email: deletedEmail(userId),
			name: 'Deleted user',
			image: null,
			emailVerified: false,
			role: 'user',
			banned: true,
			banReason: 'Account deleted'
		});

		// Every earlier ledger row is untouched; the forfeit is appended, ending at 0.
		const ledgerAfter = await ledgerRows(db(), userId);
		expect(ledgerAfter.slice(0, ledgerBefore.length)).toEqual(ledgerBefore);
		const forfeits = ledgerAfter.slice(ledgerBefore.length);
		expect(forfeits.length).toBeGreaterThan(0);
		expect(forfeits.every((r) => r.type === 'adjust' && r.amount < 0)).toBe(true);
		expect(forfeits.reduce((total, r) => total + r.amount, 0)).toBe(-991);
		expect(forfeits.at(-1)!.balanceAfter).toBe(0);
		expect(forfeits[0].description).toBe(ACCOUNT_DELETED_REASON);
		expect(JSON.stringify(forfeits.map((r) => r.metadata))).not.toContain(email);
		const packagesAfter = await db()
			.select()
			.from(creditPackage)
			.where(eq(creditPackage.userId, userId));
		expect(packagesAfter.map((p) => p.id).sort()).toEqual(packagesBefore.map((p) => p.id).sort());
		expect(packagesAfter.every((p) => p.remainingCredits === 0)).toBe(true);
		expect(await balanceOf(db(), userId, at(1))).toMatchObject({ balance: 0, available: 0 });
		const holds = await db().select().from(creditHold).where(eq(creditHold.userId, userId));
		expect(holds).toHaveLength(3);
		await expectNoDrift(db());

		const [audit] = await db().select().from(adminAudit).where(eq(adminAudit.targetUserId, userId));
		expect(audit).toMatchObject({
			action: 'account.delete',
			actorId: userId,
			balanceBefore: 991,
			balanceAfter: 0
		});

		// Someone else's account is not touched.
		expect(await countWhere(db(), chat, bystander.userId)).toBe(2);
		expect(
			await db().select().from(session).where(eq(session.userId, bystander.userId))
		).toHaveLength(2);
		expect((await balanceOf(db(), bystander.userId, at(1))).balance).toBe(991);

		await expect(deleteAccount(db(), { userId, now: at(1) })).rejects.toMatchObject({
			code: 'already_deleted'
		});
	});

	it('refuses while a reply is streaming and writes nothing, then works once it settled', async () => {
		const { userId, email } = await populatedUser(db());
		const hold = await reserve(db(), { userId, upTo: 30, key: `live:${userId}`, now: at(1) });
		const before = await ledgerRows(db(), userId);

		const refused = deleteAccount(db(), { userId, now: at(1) });
		await expect(refused).rejects.toBeInstanceOf(AppError);
		await expect(refused).rejects.toMatchObject({ code: 'reply_in_progress', status: 409 });
		expect(await ledgerRows(db(), userId)).toEqual(before);
		expect(await countWhere(db(), chat, userId)).toBe(2);
		const [row] = await db().select().from(user).where(eq(user.id, userId));
		expect(row.email).toBe(email);
		expect(await db().select().from(session).where(eq(session.userId, userId))).toHaveLength(2);

		await settle(db(), { holdId: hold.holdId, cost: 3, now: at(1) });
		const result = await deleteAccount(db(), { userId, now: at(1) });
		expect(result.forfeited).toBe(991 - 3);
		expect((await balanceOf(db(), userId, at(1))).balance).toBe(0);
		await expectNoDrift(db(), userId);
	});

	it('deletes an account that has no credits left without writing a ledger row', async () => {
		const userId = await createUser(db());
		const result = await deleteAccount(db(), { userId, now: at(1) });
		expect(result).toEqual({ userId, forfeited: 0, chats: 0, sessions: 0 });
		expect(await ledgerRows(db(), userId)).toEqual([]);
		await expect(deleteAccount(db(), { userId: randomUUID() })).rejects.toMatchObject({
			status: 404
		});
	});

	it('lists only the user’s own live sessions and finds tokens only among them', async () => {
		const { userId } = await populatedUser(db());
		const other = await populatedUser(db());
		const own = await listSessions(db(), userId, null);
		expect(own).toHaveLength(2);
		expect(JSON.stringify(own)).not.toMatch(/token/i);
		const current = await listSessions(db(), userId, own[1].id);
		expect(current[0]).toMatchObject({
			id: own[1].id,
			current: true,
			device: 'Unknown browser on an unknown system'
		});
		expect(current.filter((s) => s.current)).toHaveLength(1);
		const [foreign] = await listSessions(db(), other.userId, null);
		expect(await sessionTokenOf(db(), userId, foreign.id)).toBeNull();
		expect(await sessionTokenOf(db(), other.userId, foreign.id)).toEqual(expect.any(String));
		await db()
			.update(session)
			.set({ expiresAt: new Date(Date.now() - 1000) })
			.where(eq(session.id, own[0].id));
		expect(await listSessions(db(), userId, null)).toHaveLength(1);
	});
});
