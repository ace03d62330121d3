import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Whether an `Authorization` header carries `Bearer <expected>`. Both sides are hashed first, so
 * the comparison is constant-time whatever the lengths and tells nothing about the token.
 */
export function hasBearerToken(header: string | null, expected: string): boolean {
	const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
	const given = createHash('sha256')
		.update(match?.[1] ?? '')
		.digest();
	const wanted = createHash('sha256').update(expected).digest();
	return timingSafeEqual(given, wanted) && match !== null;
}
