import { fail } from '@sveltejs/kit';
import { emailSchema, fieldErrors } from '$lib/server/auth/credentials';
import { throttledForm } from '$lib/server/auth/throttle';
import { readForm } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import type { Actions } from './$types';

export const actions: Actions = {
	/**
	 * Sends a reset link when an account uses the address. The answer is the same either way
	 * (the email itself goes out in the background), so the form reveals no registrations.
	 */
	default: async ({ request, getClientAddress, setHeaders }) => {
		const form = await readForm(request);
		const values = { email: String(form.email ?? '') };
		const parsed = emailSchema.safeParse(form);
		if (!parsed.success) return fail(400, { values, errors: fieldErrors(parsed.error) });

		const { auth, database, config } = await runtime();
		const { email } = parsed.data;
		const refused = await throttledForm(
			{ getClientAddress, setHeaders },
			{ db: database.db, limits: config.authLimits },
			{ action: 'password-reset', account: email, values }
		);
		if (refused) return refused;
		await auth.api.requestPasswordReset({ body: { email }, headers: request.headers });
		return { sent: email };
	}
};
