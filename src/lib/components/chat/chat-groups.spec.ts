import { describe, expect, it } from 'vitest';
import { groupChats, type ChatGroup } from './chat-groups';

/** A local time (the tests hold in any time zone the machine has). */
const local = (day: number, hours = 0, minutes = 0, ms = 0) =>
	new Date(2026, 10, day, hours, minutes, 0, ms);

const chat = (id: string, at: Date | string) => ({
	id,
	updatedAt: typeof at === 'string' ? at : at.toISOString()
});

const labelsOf = (groups: ChatGroup<{ id: string }>[]) =>
	groups.map((g) => [g.label, g.chats.map((c) => c.id)]);

describe('groupChats', () => {
	const now = local(29, 10, 30); // 29 Nov 2026, 10:30 local

	it('puts each chat under its day, keeping the order', () => {
		const groups = groupChats(
			[
				chat('a', local(29, 10, 0)),
				chat('b', local(29, 0, 5)),
				chat('c', local(28, 23, 0)),
				chat('d', local(25, 12)),
				chat('e', local(1))
			],
			now
		);
		expect(labelsOf(groups)).toEqual([
			['Today', ['a', 'b']],
			['Yesterday', ['c']],
			['Last 7 days', ['d']],
			['Older', ['e']]
		]);
	});

	it('splits at local midnight exactly', () => {
		const groups = groupChats(
			[
				chat('today-start', local(29, 0, 0)),
				chat('yesterday-end', local(29, 0, 0, -1)),
				chat('yesterday-start', local(28, 0, 0)),
				chat('week-end', local(28, 0, 0, -1)),
				chat('week-start', local(22, 0, 0)),
				chat('older-end', local(22, 0, 0, -1))
			],
			now
		);
		expect(labelsOf(groups)).toEqual([
			['Today', ['today-start']],
			['Yesterday', ['yesterday-end', 'yesterday-start']],
			['Last 7 days', ['week-end', 'week-start']],
			['Older', ['older-end']]
		]);
	});

	it('counts just after midnight: a minute ago is yesterday', () => {
		const groups = groupChats([chat('late', local(28, 23, 59))], local(29, 0, 0, 1));
		expect(labelsOf(groups)).toEqual([['Yesterday', ['late']]]);
	});

	it('crosses month and year boundaries', () => {
		const newYear = new Date(2027, 0, 1, 9);
		const groups = groupChats(
			[
				chat('eve', new Date(2026, 11, 31, 22)),
				chat('christmas', new Date(2026, 11, 25, 9)),
				chat('november', new Date(2026, 10, 30))
			],
			newYear
		);
		expect(labelsOf(groups)).toEqual([
			['Yesterday', ['eve']],
			['Last 7 days', ['christmas']],
			['Older', ['november']]
		]);
	});

	it('has headings only for groups with chats', () => {
		expect(groupChats([], now)).toEqual([]);
		expect(labelsOf(groupChats([chat('x', local(3))], now))).toEqual([['Older', ['x']]]);
	});

	it('counts the future as today and unreadable dates as older', () => {
		const groups = groupChats([chat('ahead', local(30, 1)), chat('bad', 'not a date')], now);
		expect(labelsOf(groups)).toEqual([
			['Today', ['ahead']],
			['Older', ['bad']]
		]);
	});

	it('uses UTC days when asked (the server render)', () => {
		const utcNow = new Date('2026-11-29T00:30:00Z');
		const groups = groupChats(
			[chat('a', '2026-11-29T00:10:00Z'), chat('b', '2026-11-28T23:50:00Z')],
			utcNow,
			{ utc: true }
		);
		expect(labelsOf(groups)).toEqual([
			['Today', ['a']],
			['Yesterday', ['b']]
		]);
	});
});
