import { isExpired } from './allocation';

/** `frozen`: a plan pool whose subscription is not active (spendable again if it resumes). */
export type PackageStatus = 'active' | 'depleted' | 'expired' | 'revoked' | 'frozen';

/**
 * What users see for a package. A package that still had credits when it expired reads
 * "expired"; one that was used up reads "depleted" even after its date; one that a refund
 * emptied reads "revoked"; one with credits that may not be spent while its subscription is not
 * active reads "frozen".
 */
export function packageStatus(
	pkg: {
		remainingCredits: number;
		revokedCredits: number;
		expiredCredits: number;
		expiresAt: Date | null;
		frozenAt?: Date | null;
	},
	now: Date
): PackageStatus {
	if (pkg.remainingCredits === 0 && pkg.revokedCredits > 0 && pkg.expiredCredits === 0) {
		return 'revoked';
	}
	if (isExpired(pkg, now) && (pkg.remainingCredits > 0 || pkg.expiredCredits > 0)) return 'expired';
	if (pkg.remainingCredits === 0) return 'depleted';
	if (pkg.frozenAt) return 'frozen';
	return 'active';
}
