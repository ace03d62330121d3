// Shapes shared with the browser. Never import server code from here.

export interface CurrentUser {
	id: string;
	name: string;
	email: string;
	emailVerified: boolean;
	isAdmin: boolean;
}

/** The header badge's numbers. */
export interface CreditSummary {
	balance: number;
	reserved: number;
	available: number;
}

export interface ChatModelOption {
	id: string;
	label: string;
	/** Credits per 1,000 tokens. */
	rate: number;
}

export interface ChatSummary {
	id: string;
	title: string;
	updatedAt: string;
}

/** What a reply cost, shown under it. */
export interface ReplyReceipt {
	model: string;
	inputTokens: number;
	outputTokens: number;
	totalTokens: number;
	credits: number;
	packages: { id: string; name: string; credits: number }[];
	/** The membership paid for (some of) it: `membershipTokens` tokens at 0 credits. */
	membership?: boolean;
	membershipTokens?: number;
	aborted: boolean;
	error?: string;
}

export interface StoredChatMessage {
	id: string;
	role: 'user' | 'assistant';
	text: string;
	receipt: ReplyReceipt | null;
	createdAt: string;
	/** A reply's earlier versions (regenerated or re-asked), oldest first; the current one is not in it. */
	versions?: ReplyVersion[];
}

/** A reply replaced by a regenerate or an edited question, kept so that it stays readable. */
export interface ReplyVersion {
	id: string;
	text: string;
	receipt: ReplyReceipt | null;
	createdAt: string;
}

/** One pack on the buy page. */
export interface CatalogOffer {
	productId: string;
	name: string;
	description: string | null;
	credits: number;
	/** Days each package stays valid; null = never (subscriptions: next cycle + 7 days). */
	validityDays: number | null;
	/** Minor units (cents) of `currency`. */
	priceAmount: number;
	currency: string;
	recurringInterval: 'day' | 'week' | 'month' | 'year' | null;
	/** A plan (config/plans.ts, metadata `plan_key`) or a pack of credits. */
	kind: 'pack' | 'plan';
	/** Extra credits granted with it (metadata `bonus_credits`), 0 for none: "+N bonus". */
	bonusCredits: number;
	/** Credits its packages may give per UTC day; null = no limit. */
	dailyLimit: number | null;
	/** Replies cost 0 credits while it is active (fair use applies). */
	membership: boolean;
	/** An order is allocated monthly over this many months (12 yearly, 1200 lifetime), else 1. */
	allocationMonths: number;
	planKey: string | null;
	/** Upgrade order among plans (higher = better); null for packs. */
	planRank: number | null;
}

/** The user's membership, for the header badge and the fair-use banner. */
export interface MembershipView {
	name: string;
	/** ISO time the paid period ends (it renews then unless `renews` is false). */
	endsAt: string | null;
	renews: boolean;
	/** Fair use: tokens used today (UTC) by replies the membership paid for, and the cap. */
	tokensToday: number;
	tokenCap: number;
	/** Past the cap: replies are charged in credits until the next UTC day. */
	overCap: boolean;
}

/** A subscription plan the user has (the shop marks it; upgrades and downgrades start from it). */
export interface CurrentPlanView {
	subscriptionId: string;
	productId: string;
	planKey: string | null;
	name: string;
	status: string;
	currentPeriodEnd: string | null;
	cancelAtPeriodEnd: boolean;
	membership: boolean;
}

/** A yearly (or lifetime) plan allocated monthly: "next allocation on …". */
export interface AllocationView {
	id: string;
	name: string;
	credits: number;
	monthsGranted: number;
	months: number;
	/** ISO time of the next month's package; null when done or stopped. */
	nextAt: string | null;
	stopped: boolean;
}

/** The low-balance alert: the user's threshold and the notice of the last crossing. */
export interface CreditAlertView {
	threshold: number | null;
	/** Shown until dismissed. */
	notice: { firedAt: string; available: number; threshold: number } | null;
}

export type TransactionType =
	'bonus' | 'purchase' | 'subscription' | 'grant' | 'usage' | 'refund' | 'expire' | 'adjust';

export type PackageSource =
	'signup_bonus' | 'purchase' | 'subscription' | 'admin_grant' | 'bonus' | 'free_monthly';
/** `frozen`: a plan pool whose subscription is not active (spendable again if it resumes). */
export type PackageStatus = 'active' | 'depleted' | 'expired' | 'revoked' | 'frozen';

export interface CreditPackageView {
	id: string;
	source: PackageSource | string;
	name: string;
	initialCredits: number;
	remainingCredits: number;
	status: PackageStatus;
	expiresAt: string | null;
	createdAt: string;
	/** Credits it may give per UTC day (a plan pool); null = no limit. */
	dailyLimit?: number | null;
	/** With a daily limit: what it may still give today. */
	todayRemaining?: number | null;
}

export interface CreditTransactionView {
	id: string;
	type: TransactionType;
	amount: number;
	balanceAfter: number;
	packageId: string | null;
	description: string;
	metadata: Record<string, unknown>;
	createdAt: string;
}

/** The history filter as the page's form and URL carry it (UTC dates, both included). */
export interface HistoryFilterValues {
	type: TransactionType | '';
	from: string;
	to: string;
}

export interface UsageChartData {
	days: { date: string; total: number; byModel: Record<string, number> }[];
	models: string[];
	total: number;
}

/** A dashboard section's data, or the message to show where it failed to load. */
export type Section<T> = { ok: true; data: T } | { ok: false; message: string };

/** One signed-in device on the settings page (never its token). */
export interface SessionView {
	id: string;
	device: string;
	ipAddress: string | null;
	signedInAt: string;
	lastActiveAt: string;
	current: boolean;
}
