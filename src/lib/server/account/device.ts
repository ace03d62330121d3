/**
 * "Firefox on Windows" from a User-Agent header, for the sessions list. A few patterns cover the
 * browsers people use; anything else reads as "Unknown browser", which is honest enough for a
 * list the user only needs to recognise their own devices in.
 */
export function describeUserAgent(userAgent: string | null | undefined): string {
	// Headers are bounded by the server, but this runs on every listed session: keep it cheap.
	const ua = (userAgent ?? '').slice(0, 512);
	if (!ua.trim()) return 'Unknown device';
	return `${browserOf(ua)} on ${systemOf(ua)}`;
}

function browserOf(ua: string): string {
	// Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
	if (/\bEdg(e|A|iOS)?\//.test(ua)) return 'Edge';
	if (/\b(OPR|Opera)\//.test(ua)) return 'Opera';
	if (/\bSamsungBrowser\//.test(ua)) return 'Samsung Internet';
	if (/\b(Firefox|FxiOS)\//.test(ua)) return 'Firefox';
	if (/\bHeadlessChrome\//.test(ua)) return 'Headless Chrome';
	if (/\b(Chrome|CriOS|Chromium)\//.test(ua)) return 'Chrome';
	if (/\bVersion\/[\d.]+.*\bSafari\//.test(ua)) return 'Safari';
	if (/^curl\//.test(ua)) return 'curl';
	if (/\bnode\b|undici/i.test(ua)) return 'Node.js';
	return 'Unknown browser';
}

function systemOf(ua: string): string {
	if (/\b(iPhone|iPod)\b/.test(ua)) return 'iPhone';
	if (/\biPad\b/.test(ua)) return 'iPad';
	if (/\bAndroid\b/.test(ua)) return 'Android';
	if (/\bCrOS\b/.test(ua)) return 'ChromeOS';
	if (/\bWindows\b/.test(ua)) return 'Windows';
	if (/\bMac OS X\b|\bMacintosh\b/.test(ua)) return 'macOS';
	if (/\bLinux\b/.test(ua)) return 'Linux';
	return 'an unknown system';
}
