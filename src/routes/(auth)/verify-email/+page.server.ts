import { fail, redirect } from '@sveltejs/kit';
import { isAPIError } from 'better-auth/api';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { emailSchema, fieldErrors } from '$lib/server/auth/credentials';
import { throttledForm } from '$lib/server/auth/throttle';
import { user } from '$lib/server/db/schema';
import { readForm } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import type { Actions, PageServerLoad } from './$types';

// A signed JWT of a few hundred characters.
const verificationToken = z.string().min(1).max(2_000);

/**
 * `/verify-email?token=…` is the link in the email: it confirms the address, signs its owner in
 * (better-auth's autoSignInAfterVerification) and goes on to the chat. Without a token the page
 * explains what to do and sends a new link.
 */
export const load: PageServerLoad = async ({ url, locals, request }) => {
	const { auth, config } = await runtime();
	const page = { mode: config.emailVerification, bonus: config.signupBonus.credits };
	const rawToken = url.searchParams.get('token');
	if (rawToken !== null) {
		const token = verificationToken.safeParse(rawToken);
		if (!token.success) return { ...page, problem: 'invalid' as const };
		try {
			await auth.api.verifyEmail({ query: { token: token.data }, headers: request.headers });
		} catch (error) {
			if (!isAPIError(error) || error.statusCode >= 500) throw error;
			const code = (error.body as { code?: string } | undefined)?.code;
			return {
				...page,
				problem:
					code === 'TOKEN_EXPIRED'
						? ('expired' as const)
						: code === 'BANNED_USER'
							? ('suspended' as const)
							: ('invalid' as const)
			};
		}
		redirect(303, '/dashboard/chat?verified=1');
	}
	if (locals.user?.emailVerified) redirect(303, '/dashboard');
	return { ...page, problem: null };
};

export const actions: Actions = {
	/**
	 * Sends a new link: to the signed-in user's own address, or to the address typed in. The
	 * answer is the same whether or not an unconfirmed account uses it.
	 */
	resend: async ({ request, url, locals, getClientAddress, setHeaders }) => {
		const form = await readForm(request);
		const parsed = locals.user
			? { success: true as const, data: { email: locals.user.email } }
			: emailSchema.safeParse(form);
		const values = { email: String(form.email ?? '') };
		if (!parsed.success) return fail(400, { values, errors: fieldErrors(parsed.error) });

		const { database, config, emails } = await runtime();
		if (config.emailVerification === 'off') {
			return fail(400, { values, errors: { form: 'This server does not ask to confirm emails.' } });
		}
		const { email } = parsed.data;
		const refused = await throttledForm(
			{ getClientAddress, setHeaders },
			{ db: database.db, limits: config.authLimits },
			{ action: 'verification-email', account: email, values }
		);
		if (refused) return refused;
		const [owner] = await database.db
			.select({ id: user.id, email: user.email, name: user.name, verified: user.emailVerified })
			.from(user)
			// Addresses are stored lower-cased (better-auth and our schema both normalise them).
			.where(eq(user.email, email));
		if (owner && !owner.verified) await emails.verification(owner, url.origin);
		return { sent: email };
	}
};
