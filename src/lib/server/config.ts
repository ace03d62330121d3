import { z } from 'zod';

/** A configuration problem that must stop the server with a one-line explanation. */
export class StartupError extends Error {}

const wholeNumber = (fallback: number) => z.coerce.number().int().min(0).default(fallback);

/**
 * Every setting the server reads, parsed once from the environment. `.env.example` and the README
 * list the same variables; keep the three in step.
 */
const schema = z.object({
	DATABASE_URL: z.string().trim().optional(),
	DATA_DIR: z.string().trim().default('.data'),
	MIGRATIONS_DIR: z.string().trim().default('drizzle'),
	BETTER_AUTH_SECRET: z.string().optional(),
	BETTER_AUTH_URL: z.string().trim().optional(),
	ORIGIN: z.string().trim().optional(),
	ADMIN_EMAILS: z.string().default(''),
	SIGNUP_BONUS_CREDITS: wholeNumber(8),
	SIGNUP_BONUS_DAYS: wholeNumber(30),
	SWEEP_INTERVAL_SECONDS: wholeNumber(60)
});

export interface Config {
	databaseUrl: string | undefined;
	dataDir: string;
	migrationsDir: string;
	authSecret: string | undefined;
	authUrl: string | undefined;
	adminEmails: Set<string>;
	/** Credits every new user gets (0 = none), valid for `days` (0 = never expire). */
	signupBonus: { credits: number; days: number };
	/** How often the expiry / stale-hold sweep runs (0 = never). */
	sweepIntervalSeconds: number;
}

export function readConfig(env: Record<string, string | undefined>): Config {
	const result = schema.safeParse(
		// An empty variable (as in a copied .env.example) means "use the default".
		Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''))
	);
	if (!result.success) {
		const issue = result.error.issues[0];
		throw new StartupError(`${issue.path.join('.')} is invalid: ${issue.message}`);
	}
	const parsed = result.data;
	return {
		databaseUrl: parsed.DATABASE_URL || undefined,
		dataDir: parsed.DATA_DIR,
		migrationsDir: parsed.MIGRATIONS_DIR,
		authSecret: parsed.BETTER_AUTH_SECRET || undefined,
		// adapter-node's ORIGIN is what clients use, so it is the natural default for better-auth.
		authUrl: parsed.BETTER_AUTH_URL || parsed.ORIGIN || undefined,
		adminEmails: parseEmailList(parsed.ADMIN_EMAILS),
		signupBonus: { credits: parsed.SIGNUP_BONUS_CREDITS, days: parsed.SIGNUP_BONUS_DAYS },
		sweepIntervalSeconds: parsed.SWEEP_INTERVAL_SECONDS
	};
}

export function parseEmailList(list: string): Set<string> {
	return new Set(
		list
			.split(/[\s,;]+/)
			.map((email) => email.trim().toLowerCase())
			.filter(Boolean)
	);
}
