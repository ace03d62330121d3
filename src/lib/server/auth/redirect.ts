/**
 * Where to go after signing in: `value` when it is a path on this site, otherwise `fallback`.
 * It is resolved the way a browser would (`new URL`, which drops tabs and newlines, so
 * `/\t/evil.example` becomes `//evil.example` and is refused), and the result is re-serialised,
 * so a Location header never carries raw control characters.
 */
export function safeRedirectTarget(
	value: string | null | undefined,
	origin: string,
	fallback = '/dashboard'
): string {
	if (!value || !value.startsWith('/')) return fallback;
	let target: URL;
	try {
		target = new URL(value, origin);
	} catch {
		return fallback;
	}
	if (target.origin !== new URL(origin).origin) return fallback;
	return target.pathname + target.search + target.hash;
}
