import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The paths that trust better-auth's cookie cache (readsCachedSession in access.ts) read the
 * session from the signed `session_data` cookie, not from the database. Checking it still costs
 * better-auth about a millisecond per request (HMAC checks through WebCrypto and its endpoint
 * machinery), and a chat sends the same cookies with every message. What that check answers for
 * one cookie header cannot change before the cookie cache itself expires, so it is remembered
 * until then, never longer: a sign-out (other cookies), a ban or a role change (seen when the
 * cache is refreshed from the database) take effect exactly as they would without this memo.
 *
 * Only answers with a session are remembered, keyed by the two cookies better-auth reads for it
 * (the signed session token and `session_data`; other cookies cannot multiply the entries), at
 * most MAX_ENTRIES per process, oldest dropped first. The remembered objects are shared between
 * requests: read them, never change them.
 */

const MAX_ENTRIES = 5_000;

interface Remembered<T> {
	data: T;
	until: number;
}

const remembered = new Map<string, Remembered<unknown>>();

/** The cookie cache's session_data value (unchunked) and the signed session token. */
const SESSION_DATA = /(?:^|;\s*)(?:__Secure-)?better-auth\.session_data=([^;]+)/;
const SESSION_TOKEN = /(?:^|;\s*)(?:__Secure-)?better-auth\.session_token=([^;]+)/;
/** A key longer than this (a chunked or padded cookie) is not remembered. */
const MAX_KEY_LENGTH = 8_192;

/**
 * `read()` (better-auth's cookie-cache session read) for these headers, remembered until the
 * cookie cache it came from expires (and never past the session's own expiry). `secret` is
 * better-auth's: an answer is remembered only when this header's cookie cache carries a valid
 * signature and is the session better-auth answered with (not a rejected cache it replaced by a
 * database read), so only better-auth's own verified expiry bounds the memo.
 */
export async function rememberedSession<
	T extends { session: { token: string; expiresAt: Date | string } }
>(headers: Headers, secret: string, read: () => Promise<T | null>): Promise<T | null> {
	const cookie = headers.get('cookie');
	const token = cookie && SESSION_TOKEN.exec(cookie)?.[1];
	const cache = cookie && SESSION_DATA.exec(cookie)?.[1];
	if (!token || !cache || token.length + cache.length > MAX_KEY_LENGTH) return read();
	const key = `${token}\n${cache}`;
	const hit = remembered.get(key) as Remembered<T> | undefined;
	if (hit && hit.until > Date.now()) return hit.data;
	if (hit) remembered.delete(key);
	const data = await read();
	if (!data) return data;
	const signed = signedCache(cache, secret);
	if (!signed || signed.token !== data.session.token) return data;
	const until = Math.min(signed.expiresAt, new Date(data.session.expiresAt).getTime());
	if (until > Date.now()) {
		if (remembered.size >= MAX_ENTRIES) remembered.delete(remembered.keys().next().value!);
		remembered.set(key, { data, until });
	}
	return data;
}

/**
 * This `session_data` cookie's content, if its signature is valid: better-auth's compact format,
 * base64url of { session, expiresAt, signature } where signature = HMAC-SHA256(secret,
 * JSON of { ...session, expiresAt }) in base64url (better-auth's decodeCookieCache). Null for
 * anything else (no cache, a chunked cookie, the JWT and JWE strategies, a bad signature).
 */
function signedCache(value: string, secret: string): { token: unknown; expiresAt: number } | null {
	let parsed: { session?: unknown; expiresAt?: unknown; signature?: unknown };
	try {
		parsed = JSON.parse(Buffer.from(decodeURIComponent(value), 'base64url').toString('utf8'));
	} catch {
		return null;
	}
	const { session, expiresAt, signature } = parsed ?? {};
	if (
		!session ||
		typeof session !== 'object' ||
		typeof expiresAt !== 'number' ||
		!Number.isFinite(expiresAt) ||
		typeof signature !== 'string'
	) {
		return null;
	}
	const expected = createHmac('sha256', secret)
		.update(JSON.stringify({ ...session, expiresAt }))
		.digest();
	const given = Buffer.from(signature, 'base64url');
	if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
	return { token: (session as { session?: { token?: unknown } }).session?.token, expiresAt };
}
