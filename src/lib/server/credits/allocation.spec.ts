import { describe, expect, it } from 'vitest';
import { allocate, compareSpendOrder, type SpendablePackage } from './allocation';

const now = new Date('2026-11-24T12:00:00Z');
const day = (n: number) => new Date(now.getTime() + n * 86_400_000);
const pkg = (
	id: string,
	remaining: number,
	expiresInDays: number | null,
	createdDaysAgo = 1
): SpendablePackage => ({
	id,
	remainingCredits: remaining,
	expiresAt: expiresInDays === null ? null : day(expiresInDays),
	createdAt: day(-createdDaysAgo)
});

describe('allocate', () => {
	it('takes from the soonest-expiring package first', () => {
		const packages = [pkg('late', 10, 20), pkg('soon', 10, 2), pkg('mid', 10, 5)];
		expect(allocate(packages, 4, now)).toEqual([{ packageId: 'soon', credits: 4 }]);
	});

	it('spills over into the next package, one allocation per package touched', () => {
		const packages = [pkg('a', 3, 1), pkg('b', 4, 2), pkg('c', 10, 3)];
		expect(allocate(packages, 9, now)).toEqual([
			{ packageId: 'a', credits: 3 },
			{ packageId: 'b', credits: 4 },
			{ packageId: 'c', credits: 2 }
		]);
	});

	it('spends never-expiring packages last', () => {
		const packages = [pkg('forever', 10, null, 100), pkg('dated', 2, 300)];
		expect(allocate(packages, 5, now)).toEqual([
			{ packageId: 'dated', credits: 2 },
			{ packageId: 'forever', credits: 3 }
		]);
	});

	it('breaks ties on expiry by age, oldest first, then by id', () => {
		const packages = [
			pkg('young', 5, 7, 1),
			pkg('old', 5, 7, 9),
			pkg('b', 5, null, 3),
			pkg('a', 5, null, 3)
		];
		expect(allocate(packages, 20, now).map((a) => a.packageId)).toEqual(['old', 'young', 'a', 'b']);
	});

	it('skips expired and empty packages', () => {
		const packages = [
			pkg('expired', 10, -1),
			pkg('empty', 0, 1),
			pkg('exactly-now', 10, 0),
			pkg('ok', 10, 1)
		];
		expect(allocate(packages, 3, now)).toEqual([{ packageId: 'ok', credits: 3 }]);
	});

	it('takes no more than the packages hold', () => {
		expect(allocate([pkg('a', 2, 1), pkg('b', 1, null)], 10, now)).toEqual([
			{ packageId: 'a', credits: 2 },
			{ packageId: 'b', credits: 1 }
		]);
		expect(allocate([], 1, now)).toEqual([]);
	});

	it("takes at most a package's room and skips one with none (frozen, daily limit reached)", () => {
		const packages = [
			{ ...pkg('limited', 10, 1), room: 3 },
			{ ...pkg('frozen', 10, 2), room: 0 },
			pkg('rest', 10, null)
		];
		expect(allocate(packages, 8, now)).toEqual([
			{ packageId: 'limited', credits: 3 },
			{ packageId: 'rest', credits: 5 }
		]);
		expect(allocate(packages.slice(0, 2), 8, now)).toEqual([{ packageId: 'limited', credits: 3 }]);
	});

	it('orders consistently (the comparator is antisymmetric)', () => {
		const a = pkg('a', 1, 3);
		const b = pkg('b', 1, null);
		expect(compareSpendOrder(a, b)).toBe(-1);
		expect(compareSpendOrder(b, a)).toBe(1);
		expect(compareSpendOrder(a, a)).toBe(0);
	});
});
