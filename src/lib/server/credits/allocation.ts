/** The part of a package that decides where a spend comes from. */
export interface SpendablePackage {
	id: string;
	remainingCredits: number;
	expiresAt: Date | null;
	createdAt: Date;
	/** What it may give now when less than its credits (a daily limit, frozen); default all. */
	room?: number;
}

export interface Allocation {
	packageId: string;
	credits: number;
}

export function isExpired(pkg: { expiresAt: Date | null }, now: Date): boolean {
	return pkg.expiresAt !== null && pkg.expiresAt.getTime() <= now.getTime();
}

/** Spend order: soonest expiry first, never-expiring last, ties oldest first (then by id). */
export function compareSpendOrder(a: SpendablePackage, b: SpendablePackage): number {
	const ax = a.expiresAt?.getTime() ?? Infinity;
	const bx = b.expiresAt?.getTime() ?? Infinity;
	if (ax !== bx) return ax < bx ? -1 : 1;
	const ac = a.createdAt.getTime();
	const bc = b.createdAt.getTime();
	if (ac !== bc) return ac < bc ? -1 : 1;
	return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Takes `amount` credits from the packages in spend order, skipping expired and empty ones.
 * Returns one allocation per package touched; never takes more than a package holds (nor more
 * than its `room`), so the total is less than `amount` only when the packages do not hold enough.
 */
export function allocate(packages: SpendablePackage[], amount: number, now: Date): Allocation[] {
	const allocations: Allocation[] = [];
	let left = amount;
	const usable = packages
		.filter((pkg) => pkg.remainingCredits > 0 && !isExpired(pkg, now) && (pkg.room ?? 1) > 0)
		.sort(compareSpendOrder);
	for (const pkg of usable) {
		if (left <= 0) break;
		const credits = Math.min(left, pkg.remainingCredits, pkg.room ?? Infinity);
		allocations.push({ packageId: pkg.id, credits });
		left -= credits;
	}
	return allocations;
}
