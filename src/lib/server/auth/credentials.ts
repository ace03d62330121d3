import { z } from 'zod';

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 128;
export const MAX_NAME_LENGTH = 100;

// RFC 5321 caps a forward path at 256 octets; 254 characters is the usable maximum.
const email = z
	.string()
	.trim()
	.toLowerCase()
	.min(1, 'Enter your email address.')
	.max(254, 'Enter a valid email address.')
	.pipe(z.email('Enter a valid email address.'));

/** A new password: at sign-up, reset and change alike. */
const newPassword = z
	.string()
	.min(MIN_PASSWORD_LENGTH, `Use at least ${MIN_PASSWORD_LENGTH} characters for the password.`)
	.max(MAX_PASSWORD_LENGTH, `Use at most ${MAX_PASSWORD_LENGTH} characters for the password.`);

/**
 * What a sign-up and a sign-in may carry, for the forms and for `/api/auth/*` alike
 * (hooks.server.ts checks the JSON API against the same rules before better-auth runs).
 * Passwords are bounded on sign-in too: hashing a megabyte-long guess is work for us, not them.
 */
export const signUpSchema = z.object({
	name: z
		.string()
		.trim()
		.max(MAX_NAME_LENGTH, `Keep the name under ${MAX_NAME_LENGTH} characters.`)
		.optional()
		.default(''),
	email,
	password: newPassword
});

export const signInSchema = z.object({
	email,
	password: z
		.string()
		.min(1, 'Enter your password.')
		.max(MAX_PASSWORD_LENGTH, 'That email and password do not match an account.')
});

/** "Forgot password?" and "send a new link": just an address. */
export const emailSchema = z.object({ email });

/** A reset link's token (24 characters from better-auth; anything far longer is not one). */
export const resetTokenSchema = z.string().min(1).max(200);

/** The new password of a reset link; both fields must match. */
export const resetPasswordSchema = z
	.object({ token: resetTokenSchema, password: newPassword, confirm: z.string() })
	.refine((value) => value.password === value.confirm, {
		path: ['confirm'],
		message: 'The two passwords are not the same.'
	});

/** The first message per field, the shape the auth forms render inline. */
export function fieldErrors(error: z.ZodError): Record<string, string> {
	const errors: Record<string, string> = {};
	for (const issue of error.issues) {
		const field = String(issue.path[0] ?? 'form');
		errors[field] ??= issue.message;
	}
	return errors;
}

/** A display name as the settings page changes it: unlike at sign-up, it cannot be blank. */
export const displayNameSchema = z
	.string()
	.trim()
	.min(1, 'Enter a name.')
	.max(MAX_NAME_LENGTH, `Keep the name under ${MAX_NAME_LENGTH} characters.`);

/** Changing the password on the settings page; `confirmPassword` is checked when sent. */
export const changePasswordSchema = z
	.object({
		currentPassword: z
			.string()
			.min(1, 'Enter your current password.')
			.max(MAX_PASSWORD_LENGTH, 'That is not your current password.'),
		newPassword,
		confirmPassword: z.string().max(MAX_PASSWORD_LENGTH).optional()
	})
	.refine((v) => v.confirmPassword === undefined || v.confirmPassword === v.newPassword, {
		path: ['confirmPassword'],
		message: 'The two passwords are not the same.'
	});
