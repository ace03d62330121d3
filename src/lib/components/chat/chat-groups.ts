/** The headings of the chat list, newest first. */
export const CHAT_GROUPS = ['Today', 'Yesterday', 'Last 7 days', 'Older'] as const;
export type ChatGroupLabel = (typeof CHAT_GROUPS)[number];

export interface ChatGroup<T> {
	label: ChatGroupLabel;
	chats: T[];
}

/** Midnight `days` days before `now`'s day, in local time (or UTC); DST-safe. */
function dayStart(now: Date, days: number, utc: boolean): number {
	return utc
		? Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - days)
		: new Date(now.getFullYear(), now.getMonth(), now.getDate() - days).getTime();
}

/**
 * The chats under Today / Yesterday / Last 7 days / Older by `updatedAt`, keeping their order;
 * only non-empty groups. Days are calendar days in the local time zone (`utc` for the server
 * render, which does not know the reader's zone). "Last 7 days" runs from midnight 7 days ago
 * up to yesterday (2 to 7 days ago). Times in the future (a clock ahead) count as today;
 * unreadable dates as older.
 */
export function groupChats<T extends { updatedAt: string | Date }>(
	chats: readonly T[],
	now: Date = new Date(),
	{ utc = false }: { utc?: boolean } = {}
): ChatGroup<T>[] {
	const today = dayStart(now, 0, utc);
	const yesterday = dayStart(now, 1, utc);
	const week = dayStart(now, 7, utc);
	const groups = new Map<ChatGroupLabel, T[]>(CHAT_GROUPS.map((label) => [label, []]));
	for (const chat of chats) {
		const time = new Date(chat.updatedAt).getTime();
		const label: ChatGroupLabel = Number.isNaN(time)
			? 'Older'
			: time >= today
				? 'Today'
				: time >= yesterday
					? 'Yesterday'
					: time >= week
						? 'Last 7 days'
						: 'Older';
		groups.get(label)!.push(chat);
	}
	return CHAT_GROUPS.map((label) => ({ label, chats: groups.get(label)! })).filter(
		(group) => group.chats.length > 0
	);
}
