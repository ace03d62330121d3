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
}

export type TransactionType =
	'bonus' | 'purchase' | 'subscription' | 'grant' | 'usage' | 'refund' | 'expire' | 'adjust';

export type PackageSource = 'signup_bonus' | 'purchase' | 'subscription' | 'admin_grant';
export type PackageStatus = 'active' | 'depleted' | 'expired' | 'revoked';

export interface CreditPackageView {
	id: string;
	source: PackageSource | string;
	name: string;
	initialCredits: number;
	remainingCredits: number;
	status: PackageStatus;
	expiresAt: string | null;
	createdAt: string;
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
