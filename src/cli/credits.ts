import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { eq, sql } from 'drizzle-orm';
import {
	balanceOf,
	expiryAfterDays,
	grant,
	LedgerError,
	listTransactions,
	verify
} from '../lib/server/credits';
import type { Db } from '../lib/server/db/client';
import { user } from '../lib/server/db/schema';
import { fail, openCliContext } from './context';

const USAGE = `Usage: npm run credits -- <command>

  balance <email>                                   balance, reserved, available and packages
  history <email> [--limit N]                       newest ledger rows first (default 20)
  grant <email> <credits> [--days D] --reason "…"   add an admin_grant package (D = 0: never expires)
  verify                                            replay every ledger; exit 1 on any drift`;

const { positionals, values } = parseArgs({
	allowPositionals: true,
	options: {
		limit: { type: 'string' },
		days: { type: 'string' },
		reason: { type: 'string' },
		help: { type: 'boolean', short: 'h' }
	}
});
const [command, ...args] = positionals;
if (!command || values.help) fail(USAGE);

const { database } = await openCliContext();
try {
	await run(database.db);
} catch (error) {
	if (error instanceof LedgerError) fail(`Refused: ${error.message}`);
	throw error;
} finally {
	await database.close();
}

async function run(db: Db) {
	switch (command) {
		case 'balance':
			return printBalance(db, await userIdOf(db, args[0]));
		case 'history':
			return printHistory(
				db,
				await userIdOf(db, args[0]),
				wholeNumber(values.limit ?? '20', '--limit')
			);
		case 'grant':
			return grantCredits(db, await userIdOf(db, args[0]), args[1]);
		case 'verify':
			return verifyAll(db);
		default:
			fail(`Unknown command "${command}".\n\n${USAGE}`);
	}
}

async function userIdOf(db: Db, email: string | undefined): Promise<string> {
	if (!email) fail(USAGE);
	const [found] = await db
		.select({ id: user.id })
		.from(user)
		.where(eq(sql`lower(${user.email})`, email.trim().toLowerCase()));
	if (!found) fail(`No user has the email ${email}.`);
	return found.id;
}

function wholeNumber(value: string, name: string): number {
	if (!/^\d+$/.test(value)) fail(`${name} must be a whole number, got "${value}".`);
	return Number(value);
}

async function printBalance(db: Db, userId: string) {
	const view = await balanceOf(db, userId);
	console.log(`balance ${view.balance}   reserved ${view.reserved}   available ${view.available}`);
	console.table(
		view.packages.map((p) => ({
			name: p.name,
			source: p.source,
			status: p.status,
			remaining: `${p.remainingCredits} / ${p.initialCredits}`,
			expires: p.expiresAt ?? 'never'
		}))
	);
}

async function printHistory(db: Db, userId: string, limit: number) {
	const page = await listTransactions(db, userId, { limit: Math.min(Math.max(limit, 1), 100) });
	if (page.items.length === 0) return console.log('No transactions yet.');
	console.table(
		page.items.map((t) => ({
			time: t.createdAt,
			type: t.type,
			amount: t.amount,
			balanceAfter: t.balanceAfter,
			description: t.description
		}))
	);
}

async function grantCredits(db: Db, userId: string, creditsArg: string | undefined) {
	if (!creditsArg) fail(USAGE);
	const reason = values.reason?.trim();
	if (!reason) fail('A grant needs --reason "…" (it is written to the ledger).');
	const credits = wholeNumber(creditsArg, 'credits');
	const days = wholeNumber(values.days ?? '0', '--days');
	const now = new Date();
	const result = await grant(db, {
		userId,
		source: 'admin_grant',
		name: 'Admin grant',
		description: reason,
		credits,
		expiresAt: expiryAfterDays(days, now),
		key: `cli-grant:${randomUUID()}`,
		metadata: { reason, actor: 'cli' },
		now
	});
	console.log(
		`Granted ${credits} credits (${days ? `expire in ${days} days` : 'never expire'}); balance is now ${result.balanceAfter}.`
	);
}

async function verifyAll(db: Db) {
	const report = await verify(db);
	console.log(
		`Checked ${report.users} users, ${report.packages} packages, ${report.transactions} ledger rows: ` +
			(report.drifts.length ? `${report.drifts.length} drift(s).` : 'no drift.')
	);
	for (const drift of report.drifts) console.log(JSON.stringify(drift));
	if (report.drifts.length) process.exitCode = 1;
}
