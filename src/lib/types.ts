// Shapes shared with the browser. Never import server code from here.

export interface CurrentUser {
	id: string;
	name: string;
	email: string;
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
