import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../errors';
import { HISTORY_YEARS, MAX_CREDITS } from '../credits';
import { MAX_QUERY_LENGTH } from '../admin/users';

/** Shared by the admin API's schemas and the admin pages' form schemas, so both refuse alike. */

export const MAX_REASON_LENGTH = 500;

export const reasonField = z
	.string({ error: 'is required: say why' })
	.trim()
	.min(1, 'is required: say why')
	.max(MAX_REASON_LENGTH, `must be at most ${MAX_REASON_LENGTH} characters`);

export const adjustActionField = z.enum(['add', 'subtract', 'set'], {
	error: 'must be add, subtract or set'
});

const amountMessage = `must be a whole number from 0 to ${MAX_CREDITS}`;
/** 0 only makes sense for `set`; the schemas refine that per action. */
export const amountNumber = z
	.number({ error: amountMessage })
	.int(amountMessage)
	.min(0, amountMessage)
	.max(MAX_CREDITS, amountMessage);

const ISO_INSTANT = /^(\d{4})-(\d\d)-(\d\d)(?:T(\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,3}))?)?Z)?$/;

/**
 * `2027-01-31` (midnight UTC) or `2027-01-31T12:00:00Z`, checked by round trip: `Date.parse`
 * rolls 2026-02-30 over to March, PostgreSQL refuses it, so every part must come back unchanged.
 */
export function parseIsoInstant(text: string): Date | null {
	const match = ISO_INSTANT.exec(text);
	if (!match) return null;
	const [y, mo, d, h = '0', mi = '0', s = '0', ms = '0'] = match.slice(1);
	const parts = [y, mo, d, h, mi, s].map(Number);
	if (parts[0] < HISTORY_YEARS.min || parts[0] > HISTORY_YEARS.max) return null;
	const date = new Date(
		Date.UTC(
			parts[0],
			parts[1] - 1,
			parts[2],
			parts[3],
			parts[4],
			parts[5],
			Number(ms.padEnd(3, '0'))
		)
	);
	const back = [
		date.getUTCFullYear(),
		date.getUTCMonth() + 1,
		date.getUTCDate(),
		date.getUTCHours(),
		date.getUTCMinutes(),
		date.getUTCSeconds()
	];
	return back.every((value, i) => value === parts[i]) ? date : null;
}

const expiresMessage = `must be a real date like 2027-01-31 or 2027-01-31T12:00:00Z, years ${HISTORY_YEARS.min}–${HISTORY_YEARS.max}`;

/** When added credits expire; null = never. Must lie in the future. */
export const expiresAtField = z.string({ error: expiresMessage }).transform((text, ctx) => {
	const date = parseIsoInstant(text.trim());
	if (!date) {
		ctx.addIssue({ code: 'custom', message: expiresMessage });
		return z.NEVER;
	}
	if (date.getTime() <= Date.now()) {
		ctx.addIssue({ code: 'custom', message: 'must be in the future' });
		return z.NEVER;
	}
	return date;
});

/** Refuses `amount: 0` for add and subtract (a no-op is a mistake), allows it for set. */
export function amountFitsAction(value: { action: string; amount: number }): boolean {
	return value.action === 'set' || value.amount >= 1;
}

export const amountFitsMessage = 'must be at least 1 to add or subtract';

export const searchQueryField = z
	.string()
	.trim()
	.max(MAX_QUERY_LENGTH, `must be at most ${MAX_QUERY_LENGTH} characters`);

/** An Idempotency-Key header: bounded, no spaces or quotes (it is echoed into ledger keys). */
export const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,100}$/;

const idempotencyKeyHeader = z
	.string()
	.regex(IDEMPOTENCY_KEY, 'must be 1–100 characters of A–Z, a–z, 0–9, ".", "_", ":" or "-"');

/** The client's Idempotency-Key, or a fresh one: without it every request is a new operation. */
export function readIdempotencyKey(request: Request): string {
	const header = request.headers.get('idempotency-key');
	if (header === null) return randomUUID();
	const parsed = idempotencyKeyHeader.safeParse(header);
	if (!parsed.success) {
		throw new AppError(
			400,
			'invalid_request',
			`Idempotency-Key: ${parsed.error.issues[0].message}`,
			{
				field: 'Idempotency-Key'
			}
		);
	}
	return parsed.data;
}
