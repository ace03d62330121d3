import { z } from 'zod';

const email = z
	.string()
	.trim()
	.toLowerCase()
	.min(1, 'Enter your email address.')
	.pipe(z.email('Enter a valid email address.'));

export const signUpSchema = z.object({
	name: z.string().trim().max(100, 'Keep the name under 100 characters.').optional().default(''),
	email,
	password: z
		.string()
		.min(8, 'Use at least 8 characters for the password.')
		.max(128, 'Use at most 128 characters for the password.')
});

export const signInSchema = z.object({
	email,
	password: z.string().min(1, 'Enter your password.')
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
