import { z } from 'zod';
import { displayNameSchema } from '$lib/server/auth/credentials';

export const nameForm = z.object({ name: displayNameSchema });

// Ids are better-auth's 32-character random strings; the bound keeps lookups cheap.
export const revokeForm = z.object({
	sessionId: z.string().trim().min(1, 'Choose a session.').max(128, 'Choose a session.')
});

export const deleteForm = z.object({
	email: z
		.string()
		.trim()
		.toLowerCase()
		.min(1, 'Type your email address to confirm.')
		.max(254, 'That is not the email address of this account.')
});

const THRESHOLD_MESSAGE = 'Enter a whole number of credits from 1 to 1,000,000.';

/** The low-balance alert: save a threshold (whole credits, "1,000" accepted) or turn it off. */
export const lowBalanceForm = z.discriminatedUnion(
	'intent',
	[
		z.object({ intent: z.literal('clear') }),
		z.object({
			intent: z.literal('save'),
			threshold: z
				.string({ error: THRESHOLD_MESSAGE })
				.transform((text) => text.replace(/[\s,]/g, ''))
				.pipe(
					z
						.string()
						.min(1, 'Enter the number of credits to be warned at.')
						.max(7, THRESHOLD_MESSAGE)
						.regex(/^\d+$/, THRESHOLD_MESSAGE)
						.transform(Number)
						.pipe(z.number().int().min(1, THRESHOLD_MESSAGE).max(1_000_000, THRESHOLD_MESSAGE))
				)
		})
	],
	{ error: 'Choose to save the alert or turn it off.' }
);
