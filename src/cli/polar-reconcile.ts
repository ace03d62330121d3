import { CLI_ACTOR, recordAudit } from '../lib/server/admin/audit';
import { createPolarClient } from '../lib/server/billing/polar';
import { reconcileOrders } from '../lib/server/billing/reconcile';
import { fail, openCliContext, parseCliArgs, usageError } from './context';

const USAGE = `Usage: npm run polar:reconcile [-- --days N]

Lists the paid Polar orders of the last N days (default 7) and grants every one that has no
credit package yet. Safe to run any number of times.`;

const { values } = parseCliArgs(
	{ options: { days: { type: 'string', default: '7' }, help: { type: 'boolean', short: 'h' } } },
	USAGE
);
if (values.help) {
	console.log(USAGE);
	process.exit(0);
}
if (!/^\d+$/.test(values.days) || Number(values.days) < 1)
	usageError('--days must be a whole number ≥ 1.', USAGE);

const { config, database } = await openCliContext();
const polar = createPolarClient(config.polar);
if (!polar) {
	await database.close();
	fail('POLAR_ACCESS_TOKEN is not set: there is no Polar account to reconcile with.');
}
try {
	const result = await reconcileOrders(database.db, polar, { days: Number(values.days) });
	await recordAudit(database.db, {
		actor: CLI_ACTOR,
		action: 'polar.reconcile',
		reason: `Reconcile Polar orders of the last ${values.days} days (npm run polar:reconcile)`,
		details: { days: Number(values.days), ...result }
	});
	console.log(
		`Checked ${result.checked} paid orders of the last ${values.days} days: ` +
			`${result.granted.length} granted now, ${result.refunded.length} refunds applied, ${result.failed.length} failed.`
	);
	for (const id of result.granted) console.log(`  granted  ${id}`);
	for (const id of result.refunded) console.log(`  refunded ${id}`);
	for (const { orderId, reason } of result.failed) console.log(`  failed   ${orderId}: ${reason}`);
	if (result.failed.length > 0) process.exitCode = 1;
} catch (error) {
	fail(`Reconciliation stopped: ${error instanceof Error ? error.message : String(error)}`);
} finally {
	await database.close();
}
