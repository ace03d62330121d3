/** Reads Prometheus text format: the sum of a metric's samples whose labels include `labels`. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
	let total = 0;
	let found = false;
	for (const line of text.split('\n')) {
		const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
		if (!match || match[1] !== name) continue;
		const have = Object.fromEntries(
			[...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]])
		);
		if (Object.entries(labels).every(([key, value]) => have[key] === value)) {
			total += Number(match[3]);
			found = true;
		}
	}
	return found ? total : NaN;
}

/** GET /metrics with the bearer token; throws unless it answers 200. */
export async function scrape(url: string, token: string): Promise<string> {
	const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
	const text = await response.text();
	if (response.status !== 200) throw new Error(`/metrics answered ${response.status}: ${text}`);
	return text;
}
