/**
 * True when any string or key in a parsed JSON value holds text PostgreSQL cannot store: a NUL
 * character (text and jsonb refuse it) or a lone UTF-16 surrogate (jsonb refuses `\ud800`).
 * Such input is refused up front instead of failing as a 500 on insert.
 */
export function hasUnstorableText(value: unknown): boolean {
	if (typeof value === 'string') return value.includes('\0') || !value.isWellFormed();
	if (Array.isArray(value)) return value.some(hasUnstorableText);
	if (value && typeof value === 'object') {
		return Object.entries(value).some(
			([key, item]) => hasUnstorableText(key) || hasUnstorableText(item)
		);
	}
	return false;
}

/**
 * `%`, `_` and `\` match themselves: a search for `a_b` is not a pattern. For LIKE and ILIKE
 * with PostgreSQL's default escape character (the backslash).
 */
export function escapeLike(text: string): string {
	return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}
