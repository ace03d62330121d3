import { z } from 'zod';
import {
	adjustActionField,
	amountFitsAction,
	amountFitsMessage,
	amountNumber,
	expiresAtField,
	reasonField
} from '$lib/server/http/admin-input';

/** `{ action, amount, reason, expiresAt? }`: expiresAt only for additions. */
export const adjustBody = z
	.object({
		action: adjustActionField,
		amount: amountNumber,
		reason: reasonField,
		expiresAt: expiresAtField.nullish()
	})
	.refine(amountFitsAction, { path: ['amount'], message: amountFitsMessage })
	.refine((body) => !body.expiresAt || body.action === 'add', {
		path: ['expiresAt'],
		message: 'only applies when adding credits'
	});
