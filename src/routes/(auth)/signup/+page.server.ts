import { fail, redirect } from '@sveltejs/kit';
import { fieldErrors, signUpSchema } from '$lib/server/auth/credentials';
import { authFailure } from '$lib/server/auth/errors';
import { safeRedirectTarget } from '$lib/server/auth/redirect';
import { throttledForm } from '$lib/server/auth/throttle';
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
		const values = { name: String(form.name ?? ''), email: String(form.email ?? '') };
		const parsed = signUpSchema.safeParse(form);
		if (!parsed.success) return fail(400, { values, errors: fieldErrors(parsed.error) });

		const { name, email, password } = parsed.data;
		const { auth, database, config } = await runtime();
		const refused = await throttledForm(
			{ getClientAddress, setHeaders },
			{ db: database.db, limits: config.authLimits },
			{ action: 'sign-up', account: email, values }
		);
		if (refused) return refused;
		try {
			// With verification on, a registered address answers exactly like a new one (its owner
			// gets an email instead), and nobody is signed in until the link is opened.
			await auth.api.signUpEmail({
				body: { name: name || email.split('@')[0], email, password },
				headers: request.headers
			});
		} catch (error) {
			const { field, message } = authFailure(error);
			return fail(400, { values, errors: { [field]: message } });
		}
		if (config.emailVerification !== 'off') return { checkInbox: email };
		redirect(303, safeRedirectTarget(url.searchParams.get('redirectTo'), url.origin));
	}
};
