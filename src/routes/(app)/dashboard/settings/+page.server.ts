import { fail, redirect, type RequestEvent } from '@sveltejs/kit';
import { isAPIError } from 'better-auth/api';
import { deleteAccount } from '$lib/server/account/delete-account';
import { listSessions, sessionTokenOf } from '$lib/server/account/sessions';
import { loginPath } from '$lib/server/auth/access';
import { changePasswordSchema, fieldErrors } from '$lib/server/auth/credentials';
import { throttledForm } from '$lib/server/auth/throttle';
import { lowBalanceOf, setLowBalanceThreshold } from '$lib/server/credits/low-balance';
import { AppError } from '$lib/server/errors';
import { readForm } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import { deleteForm, lowBalanceForm, nameForm, revokeForm } from './schema';
import type { Actions, PageServerLoad } from './$types';

/**
 * The signed-in user and session of this request. hooks.server.ts already turns strangers away
 * from /dashboard; every load and action checks again, as the security rules ask.
 */
function signedIn({ locals, url }: Pick<RequestEvent, 'locals' | 'url'>) {
	if (!locals.user || !locals.session) redirect(303, loginPath(url));
	return { user: locals.user, session: locals.session };
}

export const load: PageServerLoad = async (event) => {
	const { user, session } = signedIn(event);
	const { database } = await runtime();
	const [sessions, lowBalance] = await Promise.all([
		listSessions(database.db, user.id, session.id),
		lowBalanceOf(database.db, user.id)
	]);
	return {
		profile: { name: user.name, email: user.email },
		sessions,
		lowBalanceThreshold: lowBalance.threshold
	};
};

/** A better-auth refusal as the form's message; its own outages stay 500s. */
function refusal(error: unknown): string {
	if (!isAPIError(error) || error.statusCode >= 500) throw error;
	return error.message || 'The request was refused.';
}

export const actions: Actions = {
	name: async (event) => {
		signedIn(event);
		const form = await readForm(event.request);
		const values = { name: String(form.name ?? '').slice(0, 200) };
		const parsed = nameForm.safeParse(form);
		if (!parsed.success) {
			return fail(400, { action: 'name', values, errors: fieldErrors(parsed.error) });
		}
		const { auth } = await runtime();
		try {
			await auth.api.updateUser({
				body: { name: parsed.data.name },
				headers: event.request.headers
			});
		} catch (error) {
			return fail(400, { action: 'name', values, errors: { form: refusal(error) } });
		}
		return { action: 'name', success: 'Your name is saved.' };
	},

	password: async (event) => {
		const { user } = signedIn(event);
		const form = await readForm(event.request);
		const values = {};
		const parsed = changePasswordSchema.safeParse(form);
		if (!parsed.success) {
			return fail(400, { action: 'password', values, errors: fieldErrors(parsed.error) });
		}
		const { auth, database, config } = await runtime();
		const refused = await throttledForm(
			event,
			{ db: database.db, limits: config.authLimits },
			// Keyed by user id: the same account's email may change, its id never does.
			{ action: 'change-password', account: `user:${user.id}`, values }
		);
		if (refused) return fail(refused.status, { action: 'password', ...refused.data });
		try {
			// Ends every other session; better-auth sets a new session cookie for this one.
			await auth.api.changePassword({
				body: {
					currentPassword: parsed.data.currentPassword,
					newPassword: parsed.data.newPassword,
					revokeOtherSessions: true
				},
				headers: event.request.headers
			});
		} catch (error) {
			const code = isAPIError(error) ? (error.body as { code?: string } | undefined)?.code : '';
			const errors =
				code === 'INVALID_PASSWORD'
					? { currentPassword: 'That is not your current password.' }
					: { form: refusal(error) };
			return fail(400, { action: 'password', values, errors });
		}
		return {
			action: 'password',
			success: 'Your password is changed. Every other device has been signed out.'
		};
	},

	lowBalance: async (event) => {
		const { user } = signedIn(event);
		const form = await readForm(event.request);
		const values = { threshold: String(form.threshold ?? '').slice(0, 20) };
		const parsed = lowBalanceForm.safeParse(form);
		if (!parsed.success) {
			return fail(400, { action: 'lowBalance', values, errors: fieldErrors(parsed.error) });
		}
		const { database } = await runtime();
		if (parsed.data.intent === 'clear') {
			await setLowBalanceThreshold(database.db, user.id, null);
			return {
				action: 'lowBalance',
				values: { threshold: '' },
				success: 'The low-balance alert is off.'
			};
		}
		const threshold = parsed.data.threshold;
		await setLowBalanceThreshold(database.db, user.id, threshold);
		return {
			action: 'lowBalance',
			values: { threshold: String(threshold) },
			success: `We will tell you when your available credits fall below ${threshold.toLocaleString('en')}.`
		};
	},

	signOutOthers: async (event) => {
		signedIn(event);
		const { auth } = await runtime();
		try {
			await auth.api.revokeOtherSessions({ headers: event.request.headers });
		} catch (error) {
			return fail(400, { action: 'sessions', errors: { form: refusal(error) } });
		}
		return { action: 'sessions', success: 'Every other device has been signed out.' };
	},

	revokeSession: async (event) => {
		const { user, session } = signedIn(event);
		const form = await readForm(event.request);
		const parsed = revokeForm.safeParse(form);
		if (!parsed.success) {
			return fail(400, { action: 'sessions', errors: fieldErrors(parsed.error) });
		}
		if (parsed.data.sessionId === session.id) {
			return fail(400, {
				action: 'sessions',
				errors: { form: 'That is this device: use "Sign out" in the account menu instead.' }
			});
		}
		const { auth, database } = await runtime();
		// Only this user's own sessions are found, so a foreign id reads as already gone.
		const token = await sessionTokenOf(database.db, user.id, parsed.data.sessionId);
		if (!token) {
			return fail(404, {
				action: 'sessions',
				errors: { form: 'That session has already ended.' }
			});
		}
		try {
			await auth.api.revokeSession({ body: { token }, headers: event.request.headers });
		} catch (error) {
			return fail(400, { action: 'sessions', errors: { form: refusal(error) } });
		}
		return { action: 'sessions', success: 'That device has been signed out.' };
	},

	deleteAccount: async (event) => {
		const { user } = signedIn(event);
		const form = await readForm(event.request);
		const values = { email: String(form.email ?? '').slice(0, 300) };
		const parsed = deleteForm.safeParse(form);
		if (!parsed.success) {
			return fail(400, { action: 'delete', values, errors: fieldErrors(parsed.error) });
		}
		if (parsed.data.email !== user.email.toLowerCase()) {
			return fail(400, {
				action: 'delete',
				values,
				errors: { email: 'That is not the email address of this account.' }
			});
		}
		const { auth, database } = await runtime();
		try {
			await deleteAccount(database.db, { userId: user.id });
		} catch (error) {
			if (!(error instanceof AppError) || error.status >= 500) throw error;
			return fail(error.status, { action: 'delete', values, errors: { form: error.message } });
		}
		await signOutBrowser(event, auth);
		redirect(303, '/?deleted=1');
	}
};

/**
 * The session rows are gone with the account; this clears the browser's cookies too. better-auth's
 * sign-out expires its cookies (through the sveltekitCookies plugin); any left are dropped here.
 */
async function signOutBrowser(
	event: RequestEvent,
	auth: Awaited<ReturnType<typeof runtime>>['auth']
): Promise<void> {
	try {
		await auth.api.signOut({ headers: event.request.headers });
	} catch {
		// No session any more is what we want; the cookies are cleared below either way.
	}
	for (const { name } of event.cookies.getAll()) {
		if (/^(__Secure-)?better-auth\./.test(name)) event.cookies.delete(name, { path: '/' });
	}
}
