import { redirect } from '@sveltejs/kit';
import { loginPath } from '$lib/server/auth/access';
import { lowBalanceOf } from '$lib/server/credits/low-balance';
import { membershipOf } from '$lib/server/credits/membership';
import { requestCreditsOverview } from '$lib/server/http/credits-overview';
import { runtime } from '$lib/server/runtime';
import type { CreditSummary } from '$lib/types';
import type { LayoutServerLoad } from './$types';

/** MEMBERSHIP_DAILY_TOKENS when the configuration has it, else this. */
const DEFAULT_MEMBERSHIP_DAILY_TOKENS = 200_000;

/** The fair-use cap of a membership, wherever the configuration keeps it. */
function membershipCap(config: object): number {
	const holders = [config, (config as { chat?: object }).chat ?? {}];
	for (const holder of holders) {
		const value = (holder as { membershipDailyTokens?: unknown }).membershipDailyTokens;
		if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value;
	}
	return DEFAULT_MEMBERSHIP_DAILY_TOKENS;
}

// hooks.server.ts already turns signed-out visitors away; this narrows the type for the pages.
export const load: LayoutServerLoad = async ({ parent, url, depends, locals }) => {
	const { user } = await parent();
	if (!user) redirect(303, loginPath(url));
	// Pages call invalidate('app:credits') after anything that moves credits (e.g. a reply).
	depends('app:credits');
	const { database, config } = await runtime();
	const db = database.db;
	const membershipDailyTokens = membershipCap(config);
	const [{ balance, reserved, available }, membership, lowBalance] = await Promise.all([
		requestCreditsOverview(locals, db, user.id),
		membershipOf(db, user.id, membershipDailyTokens),
		lowBalanceOf(db, user.id)
	]);
	const credits: CreditSummary = { balance, reserved, available };
	return {
		user,
		credits,
		membership,
		membershipDailyTokens,
		lowBalanceNotice: lowBalance.notice,
		emailVerification: config.emailVerification
	};
};
