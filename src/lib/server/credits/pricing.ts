/**
 * Credits for a reply: ceil((input + output tokens) × rate / 1000), where rate is credits per
 * 1,000 tokens. The rate is turned into an integer number of thousandths first, so that binary
 * floating point can never round a whole number of credits up (10,000 × 0.7 is 7000.000000000001).
 */
export function creditsForTokens(tokens: number, rate = 1): number {
	if (!Number.isInteger(tokens) || tokens < 0) throw new RangeError(`bad token count ${tokens}`);
	if (!(rate >= 0) || !Number.isFinite(rate)) throw new RangeError(`bad rate ${rate}`);
	const rateMilli = BigInt(Math.round(rate * 1000));
	const scaled = BigInt(tokens) * rateMilli;
	const perCredit = 1_000_000n;
	return Number((scaled + perCredit - 1n) / perCredit);
}

/** The most tokens a hold of `credits` can pay for at `rate` (the inverse of creditsForTokens). */
export function tokensForCredits(credits: number, rate = 1): number {
	const rateMilli = Math.round(rate * 1000);
	if (rateMilli <= 0) return Number.MAX_SAFE_INTEGER;
	return Math.floor((credits * 1_000_000) / rateMilli);
}
