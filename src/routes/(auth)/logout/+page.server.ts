import { redirect } from '@sveltejs/kit';
import { runtime } from '$lib/server/runtime';
import type { Actions, PageServerLoad } from './$types';

// Signing out changes state, so it is a POST; a plain visit just goes home.
export const load: PageServerLoad = () => redirect(303, '/');

export const actions: Actions = {
	default: async ({ request, locals }) => {
		if (locals.session) {
			const { auth } = await runtime();
			await auth.api.signOut({ headers: request.headers });
		}
		redirect(303, '/login?signedOut=1');
	}
};
