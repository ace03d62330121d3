import type { PackageStatus, TransactionType } from '$lib/types';

export const SOURCE_LABELS: Record<string, string> = {
	signup_bonus: 'Signup bonus',
	purchase: 'Purchase',
	subscription: 'Subscription',
	admin_grant: 'Admin grant',
	bonus: 'Bonus',
	free_monthly: 'Free monthly credits'
};

export const TYPE_LABELS: Record<TransactionType, string> = {
	usage: 'Usage',
	purchase: 'Purchase',
	subscription: 'Subscription',
	bonus: 'Bonus',
	grant: 'Grant',
	refund: 'Refund',
	expire: 'Expired',
	adjust: 'Adjustment'
};

export const STATUS_STYLES: Record<PackageStatus, { label: string; tone: string }> = {
	active: {
		label: 'Active',
		tone: 'bg-emerald-100 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-300'
	},
	expired: {
		label: 'Expired',
		tone: 'bg-amber-100 text-amber-800 dark:bg-amber-950 dark:text-amber-300'
	},
	depleted: {
		label: 'Depleted',
		tone: 'bg-zinc-200 text-zinc-700 dark:bg-zinc-800 dark:text-zinc-300'
	},
	revoked: { label: 'Revoked', tone: 'bg-red-100 text-red-800 dark:bg-red-950 dark:text-red-300' },
	frozen: {
		label: 'Paused',
		tone: 'bg-sky-100 text-sky-800 dark:bg-sky-950 dark:text-sky-300'
	}
};
