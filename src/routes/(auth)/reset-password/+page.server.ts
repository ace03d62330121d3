import { fail, redirect } from '@sveltejs/kit';
import { isAPIError } from 'better-auth/api';
import { fieldErrors, resetPasswordSchema, resetTokenSchema } from '$lib/server/auth/credentials';
import { resetLinkOwner } from '$lib/server/auth/password-reset';
import { recordSignInSuccess, throttledForm } from '$lib/server/auth/throttle';
import { readForm } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import type { Actions, PageServerLoad } from './$types';

const EXPIRED = 'This link has expired or was already used. Ask for a new one below.';

/** The page says at once whether the link still works, before anyone types a password. */
export const load: PageServerLoad = async ({ url }) => {
	const token = resetTokenSchema.safeParse(url.searchParams.get('token'));
	if (!token.success) return { token: null };
	const { auth } = await runtime();
	return { token: (await resetLinkOwner(auth, token.data)) ? token.data : null };
};

export const actions: Actions = {
	/** Sets the new password, spends the link and signs the account out everywhere. */
	default: async ({ request, getClientAddress, setHeaders }) => {
		const form = await readForm(request);
		const parsed = resetPasswordSchema.safeParse(form);
		if (!parsed.success) return fail(400, { errors: fieldErrors(parsed.error) });

		const { auth, database, config } = await runtime();
		const { token, password } = parsed.data;
		const owner = await resetLinkOwner(auth, token);
		if (!owner) return fail(400, { errors: { form: EXPIRED }, expired: true });
		const refused = await throttledForm(
			{ getClientAddress, setHeaders },
			{ db: database.db, limits: config.authLimits },
			{ action: 'password-reset', account: owner.email, values: {} }
		);
		if (refused) return refused;
		try {
			await auth.api.resetPassword({ body: { token, newPassword: password } });
		} catch (error) {
			// Spent by a concurrent request between our check and better-auth's.
			if (isAPIError(error) && error.statusCode < 500) {
				return fail(400, { errors: { form: EXPIRED }, expired: true });
			}
			throw error;
		}
		// Proving the mailbox ends any pause the account earned from wrong guesses.
		await recordSignInSuccess(database.db, owner.email);
		redirect(303, '/login?reset=1');
	}
};
