import { betterAuth } from 'better-auth';
import { drizzleAdapter } from 'better-auth/adapters/drizzle';
import { admin } from 'better-auth/plugins';
import { sveltekitCookies } from 'better-auth/svelte-kit';
import { getRequestEvent } from '$app/server';
import { grantSignupBonus } from '../credits';
import type { Db } from '../db/client';
import * as schema from '../db/schema';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from './credentials';

export interface AuthOptions {
	db: Db;
	secret: string;
	/** Public URL of the app; derived from each request when unset (development). */
	baseURL: string | undefined;
	/** Extra origins allowed to call the auth endpoints besides `baseURL`'s. */
	trustedOrigins?: string[];
	/** Lower-cased emails that become admins when they sign up. */
	adminEmails: Set<string>;
	/** The welcome package of every new user. */
	signupBonus: { credits: number; days: number };
}

export function createAuth(options: AuthOptions) {
	const { db, secret, baseURL, trustedOrigins, adminEmails, signupBonus } = options;
	return betterAuth({
		secret,
		baseURL,
		trustedOrigins,
		database: drizzleAdapter(db, { provider: 'pg', schema }),
		emailAndPassword: {
			enabled: true,
			autoSignIn: true,
			minPasswordLength: MIN_PASSWORD_LENGTH,
			maxPasswordLength: MAX_PASSWORD_LENGTH
		},
		databaseHooks: {
			user: {
				create: {
					before: async (user) => ({
						data: { ...user, role: adminEmails.has(user.email.toLowerCase()) ? 'admin' : 'user' }
					}),
					// Runs once the account is committed; the grant's key makes a retry harmless.
					after: async (user) => {
						await grantSignupBonus(db, user.id, signupBonus);
					}
				}
			}
		},
		// sveltekitCookies must stay last: it sets the cookies of auth calls made from form actions.
		plugins: [admin(), sveltekitCookies(getRequestEvent)]
	});
}

export type Auth = ReturnType<typeof createAuth>;
export type SessionData = NonNullable<Awaited<ReturnType<Auth['api']['getSession']>>>;
export type SessionUser = SessionData['user'];
