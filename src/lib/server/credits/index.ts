// The ledger: the only code that writes credit packages, holds and ledger rows.
export { adjust, type AdjustInput, type AdjustMode, type AdjustResult } from './adjust';
export { balanceOf, ENDED_PACKAGES_DAYS, type BalanceView, type PackageView } from './balance';
export {
	eachTransaction,
	listTransactions,
	toTransactionView,
	historyConditions,
	olderThan,
	cursorTime,
	cursorOf,
	parseCursor,
	isHistoryTime,
	CURSOR_PATTERN,
	HISTORY_YEARS,
	type Cursor,
	type HistoryFilter,
	type TransactionPage,
	type TransactionType,
	type TransactionView
} from './history';
export { nextExpiry, EXPIRY_NOTICE_DAYS, type ExpiryNotice } from './expiry-notice';
export { creditsOverview, type CreditsOverview } from './overview';
export { usageByDay, startOfUtcDay, type UsageChart, type UsageDay } from './usage-chart';
export { LedgerError, type LedgerErrorCode } from './errors';
export { sweep, expireDue, resolveStaleHolds, type SweepResult } from './expire';
export {
	grant,
	expiryAfterDays,
	MAX_CREDITS,
	type GrantInput,
	type GrantResult,
	type PackageSource
} from './grant';
export {
	reserve,
	settle,
	voidHold,
	recordOwed,
	MIN_HOLD,
	type ReserveInput,
	type ReserveResult,
	type SettleInput,
	type SettleResult
} from './holds';
// Conditions, not queries: for reports that sum balances in SQL over many users.
export { countsAt, pendingHoldsOf } from './ledger';
export { spendableAt, utcDayOf } from './daily-limit';
export {
	membershipOf,
	membershipTokensToday,
	subscriptionActiveAt,
	MEMBERSHIP_TOKENS_KEY
} from './membership';
export { creditsForTokens, tokensForCredits } from './pricing';
export { revokeFromPackage, type RevokeInput, type RevokeResult } from './revoke';
export { pgErrorCode } from './transaction';
export { packageStatus, type PackageStatus } from './status';
export { verify, type Drift, type VerifyReport } from './verify';
export { grantSignupBonus } from './signup-bonus';
