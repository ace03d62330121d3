import { z } from 'zod';

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
	ADMIN_EMAILS: z.string().default('')
});

export interface Config {
	databaseUrl: string | undefined;
	dataDir: string;
	migrationsDir: string;
	authSecret: string | undefined;
	authUrl: string | undefined;
	adminEmails: Set<string>;
}

export function readConfig(env: Record<string, string | undefined>): Config {
	const parsed = schema.parse(env);
	return {
		databaseUrl: parsed.DATABASE_URL || undefined,
		dataDir: parsed.DATA_DIR,
		migrationsDir: parsed.MIGRATIONS_DIR,
		authSecret: parsed.BETTER_AUTH_SECRET || undefined,
		// adapter-node's ORIGIN is what clients use, so it is the natural default for better-auth.
		authUrl: parsed.BETTER_AUTH_URL || parsed.ORIGIN || undefined,
		adminEmails: parseEmailList(parsed.ADMIN_EMAILS)
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
