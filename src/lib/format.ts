// Dates on the credits dashboard are shown in UTC, the same days the history filter and the usage
// chart count in, so what the server renders is what the browser hydrates.

const dateFormat = new Intl.DateTimeFormat('en-GB', {
	day: 'numeric',
	month: 'short',
	year: 'numeric',
	timeZone: 'UTC'
});
const shortDateFormat = new Intl.DateTimeFormat('en-GB', {
	day: 'numeric',
	month: 'short',
	timeZone: 'UTC'
});
const timeFormat = new Intl.DateTimeFormat('en-GB', {
	hour: '2-digit',
	minute: '2-digit',
	hourCycle: 'h23',
	timeZone: 'UTC'
});

/** "1 Dec 2026" */
export const formatDate = (iso: string) => dateFormat.format(new Date(iso));

/** "1 Dec" */
export const formatShortDate = (iso: string) => shortDateFormat.format(new Date(iso));

/** "1 Dec 2026, 09:30" */
export const formatDateTime = (iso: string) =>
	`${dateFormat.format(new Date(iso))}, ${timeFormat.format(new Date(iso))}`;

/** "1,234" */
export const formatNumber = (value: number) => value.toLocaleString('en');

/** "1 user" / "1,234 users": a count with its noun, singular for one. */
export const formatCount = (value: number, singular: string, plural = `${singular}s`) =>
	`${formatNumber(value)} ${value === 1 ? singular : plural}`;

/** "+8" / "−5" (a real minus sign). */
export const formatSigned = (value: number) =>
	value > 0 ? `+${formatNumber(value)}` : `−${formatNumber(Math.abs(value))}`;

/** `1000, 'usd'` → "$10.00". */
export function formatMoney(minorUnits: number, currency: string): string {
	return new Intl.NumberFormat('en-US', {
		style: 'currency',
		currency: currency.toUpperCase()
	}).format(minorUnits / 100);
}
