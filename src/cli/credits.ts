import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { CLI_ACTOR } from '../lib/server/admin/audit';
import { adminAdjust } from '../lib/server/admin/credits';
import { runLedgerCheck } from '../lib/server/admin/overview';
import {
	balanceOf,
	expiryAfterDays,
	grant,
	LedgerError,
	listTransactions,
	type AdjustMode
} from '../lib/server/credits';
import type { Db } from '../lib/server/db/client';
import { user } from '../lib/server/db/schema';
import { fail, openCliContext, parseCliArgs, usageError } from './context';

const USAGE = `Usage: npm run credits -- <command>

  balance <email>                                   balance, reserved, available and packages
  history <email> [--limit N]                       newest ledger rows first (default 20)
  grant <email> <credits> [--days D] --reason "…"   add an admin_grant package (D = 0: never expires)
  adjust <email> add|subtract|set <n> --reason "…" [--days D]
                                                    change the balance like an admin (audited as
                                                    "cli"); --days only with add: the added
                                                    credits expire in D days (default: never)
  verify                                            replay every ledger; exit 1 on any drift (the
                                                    result shows on the admin overview)`;

const { positionals, values } = parseCliArgs(
	{
		allowPositionals: true,
		options: {
			limit: { type: 'string' },
			days: { type: 'string' },
			reason: { type: 'string' },
			help: { type: 'boolean', short: 'h' }
		}
	},
	USAGE
);
const [command, ...args] = positionals;
if (values.help) {
	console.log(USAGE);
	process.exit(0);
}
if (!command) usageError('Which command?', USAGE);
if (!['balance', 'history', 'grant', 'adjust', 'verify'].includes(command)) {
	usageError(`Unknown command "${command}".`, USAGE);
}
// A usage mistake is reported before the database is opened (or found locked by a server).
if (command === 'adjust') adjustArgs(args);

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
		case 'adjust':
			return adjustBalance(db, args);
		case 'verify':
			return verifyAll(db);
	}
}

async function userIdOf(db: Db, email: string | undefined): Promise<string> {
	if (!email) usageError(`${command} needs an email.`, USAGE);
	const [found] = await db
		.select({ id: user.id })
		.from(user)
		.where(eq(sql`lower(${user.email})`, email.trim().toLowerCase()));
	if (!found) fail(`No user has the email ${email}.`);
	return found.id;
}

function wholeNumber(value: string, name: string): number {
	if (!/^\d{1,9}$/.test(value))
		usageError(`${name} must be a whole number, got "${value}".`, USAGE);
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
	if (!creditsArg) usageError('grant needs a number of credits.', USAGE);
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

/** The arguments of `adjust`, checked before the database is opened. */
function adjustArgs([email, mode, amountArg]: string[]) {
	if (!email || !mode || !amountArg) usageError('adjust needs <email> <mode> <n>.', USAGE);
	if (mode !== 'add' && mode !== 'subtract' && mode !== 'set') {
		usageError(`The mode must be add, subtract or set, got "${mode}".`, USAGE);
	}
	const amount = wholeNumber(amountArg, 'n');
	const reason = values.reason?.trim();
	if (!reason) {
		usageError('adjust needs --reason "…" (it is written to the ledger and audit log).', USAGE);
	}
	if (values.days !== undefined && mode !== 'add') {
		usageError('--days only applies to add (the added credits expire).', USAGE);
	}
	const days = wholeNumber(values.days ?? '0', '--days');
	return { email, mode: mode as AdjustMode, amount, reason, days };
}

/** `adjust <email> add|subtract|set <n>`: the admin console's adjustment, audited as the CLI. */
async function adjustBalance(db: Db, args: string[]) {
	const { email, mode, amount, reason, days } = adjustArgs(args);
	const userId = await userIdOf(db, email);
	const now = new Date();
	const result = await adminAdjust(db, {
		actor: CLI_ACTOR,
		userId,
		action: mode,
		amount,
		reason,
		expiresAt: expiryAfterDays(days, now),
		// One run is one intent: a fresh key, so running it twice adjusts twice, as asked.
		key: `cli:${randomUUID()}`
	});
	const before = result.balanceAfter - result.delta;
	console.log(
		`${mode} ${amount}: balance ${before} → ${result.balanceAfter} (${result.delta >= 0 ? '+' : ''}${result.delta}); audited as cli.`
	);
}

async function verifyAll(db: Db) {
	const report = await runLedgerCheck(db, CLI_ACTOR);
	console.log(
		`Checked ${report.users} users, ${report.packages} packages, ${report.transactions} ledger rows: ` +
			(report.driftCount ? `${report.driftCount} drift(s).` : 'no drift.')
	);
	for (const drift of report.allDrifts) console.log(JSON.stringify(drift));
	if (report.driftCount) process.exitCode = 1;
}
