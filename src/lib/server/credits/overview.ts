import type { Db } from '../db/client';
import { balanceOf, type PackageView } from './balance';
import { nextExpiry, type ExpiryNotice } from './expiry-notice';

export interface CreditsOverview {
	balance: number;
	reserved: number;
	available: number;
	/** Live packages first (soonest expiry first), then ended ones from the last 90 days. */
	packages: PackageView[];
	/** Credits expiring within 14 days, if any. */
	nextExpiry: ExpiryNotice | null;
}

/** The dashboard's balance card and package list: a few package rows, never the ledger. */
export async function creditsOverview(
	db: Db,
	userId: string,
	now = new Date()
): Promise<CreditsOverview> {
	const view = await balanceOf(db, userId, now);
	return {
		balance: view.balance,
		reserved: view.reserved,
		available: view.available,
		packages: view.packages,
		nextExpiry: nextExpiry(view.packages, now)
	};
}
