import { isAPIError } from 'better-auth/api';

/**
 * Turns a better-auth refusal into a message for the form, or re-throws anything that is not a
 * client mistake (a broken database must surface as a 500, not as "wrong password").
 */
export function authFailure(error: unknown): {
	field: 'email' | 'password' | 'form';
	message: string;
	/** A failed guess, counted towards the account's backoff. */
	wrongPassword?: boolean;
} {
	if (!isAPIError(error) || error.statusCode >= 500) throw error;
	const code = (error.body as { code?: string } | undefined)?.code ?? '';
	if (code.startsWith('USER_ALREADY_EXISTS')) {
		return {
			field: 'email',
			// The signup page follows this with a "Sign in instead" link.
			message: 'An account with this email already exists.'
		};
	}
	if (code === 'INVALID_EMAIL') return { field: 'email', message: 'Enter a valid email address.' };
	if (code.startsWith('PASSWORD_TOO')) return { field: 'password', message: error.message };
	if (code === 'INVALID_EMAIL_OR_PASSWORD') {
		return {
			field: 'form',
			message: 'That email and password do not match an account.',
			wrongPassword: true
		};
	}
	if (error.statusCode === 429) {
		return { field: 'form', message: 'Too many attempts. Wait a minute and try again.' };
	}
	return { field: 'form', message: error.message || 'The request was refused.' };
}
