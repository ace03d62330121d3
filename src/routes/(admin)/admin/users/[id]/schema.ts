import { z } from 'zod';
import {
	adjustActionField,
	amountFitsAction,
	amountFitsMessage,
	amountNumber,
	expiresAtField,
	IDEMPOTENCY_KEY,
	reasonField
} from '$lib/server/http/admin-input';
import { cursorField, historyFilterFields } from '$lib/server/http/history-query';

/** The page's URL: the same history filter and pages as the user's own dashboard. */
export const userPageQuery = z
	.object({ ...historyFilterFields, cursor: cursorField })
	.refine((q) => !q.from || !q.to || q.from <= q.to, {
		path: ['to'],
		message: 'must not be before from'
	});

/** An empty form field is "not given", as a browser sends it. */
const blankToUndefined = (value: unknown) =>
	typeof value === 'string' && value.trim() === '' ? undefined : value;

/**
 * The adjust form. Without `confirm` it asks for a preview (before → after); with `confirm` and
 * the `key` the preview handed out, it is done, and a double submit replays instead of repeating.
 */
export const adjustForm = z
	.object({
		action: adjustActionField,
		amount: z.preprocess((value) => {
			const text = blankToUndefined(value);
			return typeof text === 'string' ? Number(text.trim()) : text;
		}, amountNumber),
		reason: reasonField,
		expiresAt: z.preprocess(blankToUndefined, expiresAtField.optional()),
		confirm: z.preprocess(blankToUndefined, z.literal('1').optional()),
		key: z.preprocess(blankToUndefined, z.string().regex(IDEMPOTENCY_KEY).optional())
	})
	.refine(amountFitsAction, { path: ['amount'], message: amountFitsMessage })
	.refine((form) => !form.expiresAt || form.action === 'add', {
		path: ['expiresAt'],
		message: 'only applies when adding credits'
	});

export const revokeForm = z.object({
	packageId: z.string({ error: 'choose a package' }).uuid('choose a package'),
	reason: reasonField
});

export const banForm = z.object({ reason: reasonField });
