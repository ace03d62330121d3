/** What a settings form action answered, for the form that sent it. */
export interface SettingsFormResult {
	action: string;
	success?: string;
	errors?: Record<string, string>;
	values?: Record<string, string>;
}

export const sectionClass =
	'rounded-2xl border border-zinc-200 bg-white p-4 sm:p-6 dark:border-zinc-800 dark:bg-zinc-900';

/** "29 Nov 2026, 09:03 UTC": the app shows every time in UTC. */
export function formatTime(iso: string): string {
	const text = new Date(iso).toLocaleString('en-GB', {
		day: 'numeric',
		month: 'short',
		year: 'numeric',
		hour: '2-digit',
		minute: '2-digit',
		timeZone: 'UTC'
	});
	return `${text} UTC`;
}
