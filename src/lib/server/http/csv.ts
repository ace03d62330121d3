/**
 * One CSV line (RFC 4180, CRLF). Numbers are written as they are; every text cell is quoted,
 * and one that a spreadsheet would run as a formula (starting with = + - @, a tab or a
 * carriage return) gets a leading apostrophe, so a chat title or a description can never
 * become a formula in the file someone opens in Excel (OWASP "CSV injection").
 */
export function csvLine(cells: (string | number | boolean | null | undefined)[]): string {
	return cells.map(csvCell).join(',') + '\r\n';
}

function csvCell(value: string | number | boolean | null | undefined): string {
	if (value === null || value === undefined) return '';
	if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
	if (typeof value === 'boolean') return value ? 'true' : 'false';
	const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
	return `"${safe.replaceAll('"', '""')}"`;
}
