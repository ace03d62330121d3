import { fail, redirect } from '@sveltejs/kit';
import { fieldErrors, signInSchema } from '$lib/server/auth/credentials';
import { authFailure } from '$lib/server/auth/errors';
import { safeRedirectTarget } from '$lib/server/auth/redirect';
import { recordSignInFailure, recordSignInSuccess, throttledForm } from '$lib/server/auth/throttle';
import { readForm } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = ({ locals, url }) => {
	if (locals.user)
		redirect(303, safeRedirectTarget(url.searchParams.get('redirectTo'), url.origin));
};

export const actions: Actions = {
	default: async ({ request, url, getClientAddress, setHeaders }) => {
		const form = await readForm(request);
		const values = { email: String(form.email ?? '') };
		const parsed = signInSchema.safeParse(form);
		if (!parsed.success) return fail(400, { values, errors: fieldErrors(parsed.error) });

		const { auth, database, config } = await runtime();
		const { email } = parsed.data;
		const refused = await throttledForm(
			{ getClientAddress, setHeaders },
			{ db: database.db, limits: config.authLimits },
			{ action: 'sign-in', account: email, values }
		);
		if (refused) return refused;
		try {
			await auth.api.signInEmail({ body: parsed.data, headers: request.headers });
		} catch (error) {
			const { field, message, wrongPassword } = authFailure(error);
			if (wrongPassword) await recordSignInFailure(database.db, config.authLimits, email);
			return fail(400, { values, errors: { [field]: message } });
		}
		await recordSignInSuccess(database.db, email);
		redirect(303, safeRedirectTarget(url.searchParams.get('redirectTo'), url.origin));
	}
};
