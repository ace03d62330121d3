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
