import { betterAuth } from 'better-auth';
import { drizzleAdapter } from 'better-auth/adapters/drizzle';
import { admin } from 'better-auth/plugins';
import { sveltekitCookies } from 'better-auth/svelte-kit';
import { getRequestEvent } from '$app/server';
import type { EmailVerification } from '../config';
import { grantWelcomeCredits } from '../credits/signup-bonus';
import type { Db } from '../db/client';
import * as schema from '../db/schema';
import { EMAIL_LINK_SECONDS, type AccountEmails } from './account-email';
import { AUTH_HTTP_ENDPOINTS } from './api-guard';
import { CLIENT_ADDRESS_HEADER } from './client-address';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from './credentials';
import { promoteVerifiedAdmins } from './verified-owner';
import { log } from '../log';

export interface AuthOptions {
	db: Db;
	secret: string;
	/** Public URL of the app; derived from each request when unset (development). */
	baseURL: string | undefined;
	/** Extra origins allowed to call the auth endpoints besides `baseURL`'s. */
	trustedOrigins?: string[];
	/** Lower-cased emails that become admins once they are verified. */
	adminEmails: Set<string>;
	/** Development without a mail server: ADMIN_EMAILS are promoted at sign-up already. */
	adminAtSignUp: boolean;
	/** The welcome package of every new user (at verification unless verification is off). */
	signupBonus: { credits: number; days: number };
	/** FREE_MONTHLY_CREDITS: a new account gets the current month's at once (0 = off). */
	freeMonthlyCredits?: number;
	emailVerification: EmailVerification;
	emails: AccountEmails;
	/**
	 * Max age in seconds of the signed `session_data` cookie (0 = none). Only paths for which
	 * `readsCachedSession` (access.ts) holds read it; hooks.server.ts bypasses it elsewhere.
	 */
	sessionCacheSeconds?: number;
}

export function createAuth(options: AuthOptions) {
	const { db, secret, baseURL, trustedOrigins, adminEmails, signupBonus, emails } = options;
	const freeMonthlyCredits = options.freeMonthlyCredits ?? 0;
	const verifying = options.emailVerification !== 'off';
	const disabledPaths: string[] = [];
	// Links in emails go to our pages on the app's public origin.
	const originOf = (betterAuthUrl: string) => new URL(betterAuthUrl).origin;
	const auth = betterAuth({
		secret,
		baseURL,
		trustedOrigins,
		database: drizzleAdapter(db, { provider: 'pg', schema }),
		// Our own limiter (auth/throttle.ts) guards sign-in and sign-up on every door, per client
		// address and account, in PostgreSQL; better-auth's keys on X-Forwarded-For, per process.
		rateLimit: { enabled: false },
		disabledPaths,
		// Every session read from the database refreshes the cookie; a revoked session, a sign-out
		// or a ban reaches the paths that trust it within maxAge (no refresh without the database).
		session: options.sessionCacheSeconds
			? { cookieCache: { enabled: true, maxAge: options.sessionCacheSeconds } }
			: undefined,
		// Sessions record the address hooks.server.ts vouches for, not a client's X-Forwarded-For.
		advanced: { ipAddress: { ipAddressHeaders: [CLIENT_ADDRESS_HEADER] } },
		// Reset links are stored hashed: a copy of the database cannot take over accounts.
		verification: { storeIdentifier: 'hashed' },
		emailAndPassword: {
			enabled: true,
			// With verification on, sign-up never signs in: the answer is "check your inbox" whether
			// the address is new or registered (better-auth then answers a duplicate generically).
			autoSignIn: !verifying,
			minPasswordLength: MIN_PASSWORD_LENGTH,
			maxPasswordLength: MAX_PASSWORD_LENGTH,
			resetPasswordTokenExpiresIn: EMAIL_LINK_SECONDS,
			revokeSessionsOnPasswordReset: true,
			sendResetPassword: ({ user, url, token }) => emails.passwordReset(user, originOf(url), token),
			// Someone signed up with a registered address: its owner hears of it (or, if the account
			// was never verified, simply gets a fresh link), and the answer looked like any sign-up.
			onExistingUserSignUp: async ({ user }, request) => {
				const origin = baseURL ? new URL(baseURL).origin : request && new URL(request.url).origin;
				if (!origin) return;
				if (user.emailVerified) await emails.accountExists(user, origin);
				else await emails.verification(user, origin);
			}
		},
		emailVerification: {
			sendOnSignUp: verifying,
			autoSignInAfterVerification: true,
			expiresIn: EMAIL_LINK_SECONDS,
			sendVerificationEmail: ({ user, url, token }) =>
				emails.verification(user, originOf(url), token),
			afterEmailVerification: async (user) => {
				// Both are idempotent: a second click on the link changes nothing.
				if (verifying) await grantWelcomeCredits(db, user.id, signupBonus, freeMonthlyCredits);
				// Only this address can have become a verified owner just now.
				const email = user.email.toLowerCase();
				const listed = adminEmails.has(email) ? new Set([email]) : new Set<string>();
				const promoted = await promoteVerifiedAdmins(db, listed);
				for (const email of promoted)
					log.info(`ADMIN_EMAILS: ${email} is verified and now an admin.`);
			}
		},
		databaseHooks: {
			user: {
				create: {
					before: async (user) => {
						const admin = options.adminAtSignUp && adminEmails.has(user.email.toLowerCase());
						if (admin) {
							log.info(
								`ADMIN_EMAILS: ${user.email} is an admin from sign-up (development without email verification; in production admins need a verified email).`
							);
						}
						return { data: { ...user, role: admin ? 'admin' : 'user' } };
					},
					// Runs once the account is committed; the grant's key makes a retry harmless.
					after: async (user) => {
						if (!verifying) await grantWelcomeCredits(db, user.id, signupBonus, freeMonthlyCredits);
					}
				}
			}
		},
		// sveltekitCookies must stay last: it sets the cookies of auth calls made from form actions.
		plugins: [admin(), sveltekitCookies(getRequestEvent)]
	});
	// Every endpoint the app does not serve over HTTP is switched off, including any a future
	// plugin adds. The list needs the built endpoints, and better-auth reads it per request.
	disabledPaths.push(
		...Object.values(auth.api)
			.map((endpoint) => (endpoint as { path?: string }).path)
			.filter((path): path is string => !!path && !Object.hasOwn(AUTH_HTTP_ENDPOINTS, path))
	);
	return auth;
}

export type Auth = ReturnType<typeof createAuth>;
export type SessionData = NonNullable<Awaited<ReturnType<Auth['api']['getSession']>>>;
export type SessionUser = SessionData['user'];
