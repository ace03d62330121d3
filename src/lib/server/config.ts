import { z } from 'zod';

/** A configuration problem that must stop the server with a one-line explanation. */
export class StartupError extends Error {}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** LOG_LEVEL for the logger, which exists before the configuration is read: `info` unless valid. */
export function logLevelOf(value: string | undefined): (typeof LOG_LEVELS)[number] {
	const parsed = z.enum(LOG_LEVELS).safeParse(value?.trim().toLowerCase());
	return parsed.success ? parsed.data : 'info';
}

const wholeNumber = (fallback: number) => z.coerce.number().int().min(0).default(fallback);

/**
 * Every setting the server reads, parsed once from the environment. `.env.example` and the README
 * list the same variables; keep the three in step.
 */
const schema = z.object({
	DATABASE_URL: z.string().trim().optional(),
	DATABASE_PREPARE: z.enum(['true', 'false']).default('true'),
	DATA_DIR: z.string().trim().default('.data'),
	MIGRATIONS_DIR: z.string().trim().default('drizzle'),
	BETTER_AUTH_SECRET: z.string().optional(),
	BETTER_AUTH_URL: z.string().trim().optional(),
	ORIGIN: z.string().trim().optional(),
	ADMIN_EMAILS: z.string().default(''),
	SIGNUP_BONUS_CREDITS: wholeNumber(8),
	SIGNUP_BONUS_DAYS: wholeNumber(30),
	FREE_MONTHLY_CREDITS: wholeNumber(0),
	SWEEP_INTERVAL_SECONDS: wholeNumber(60),
	OPENAI_API_KEY: z.string().trim().optional(),
	OPENAI_BASE_URL: z.url().optional(),
	OPENAI_API_STYLE: z.enum(['responses', 'chat']).optional(),
	CHAT_MODELS: z.string().trim().default('gpt-4o-mini:1'),
	CHAT_MAX_INPUT_CHARS: wholeNumber(32_000),
	CHAT_MAX_CONCURRENT: wholeNumber(3),
	CHAT_MAX_OUTPUT_TOKENS: wholeNumber(2_048),
	CHAT_HISTORY_TOKENS: wholeNumber(16_000),
	CHAT_RATE_PER_MINUTE: wholeNumber(20),
	CHAT_HOLD_TTL_SECONDS: z.coerce.number().int().min(1).default(600),
	MEMBERSHIP_DAILY_TOKENS: z.coerce.number().int().min(0).max(1_000_000_000).default(200_000),
	DEMO_MODEL: z.enum(['on', 'off']).optional(),
	DEMO_MODEL_DELAY_MS: wholeNumber(25),
	AUTH_RATE_PER_MINUTE: wholeNumber(10),
	AUTH_FAILURES_BEFORE_BACKOFF: wholeNumber(5),
	AUTH_EMAILS_PER_HOUR: wholeNumber(5),
	AUTH_SESSION_CACHE_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
	SMTP_URL: z
		.url({ protocol: /^smtps?$/, error: 'must look like smtp://user:pass@host:587 or smtps://…' })
		.optional(),
	MAIL_FROM: z.string().trim().max(200).default('credit-chat <no-reply@localhost>'),
	EMAIL_VERIFICATION: z.enum(['required', 'optional', 'off']).optional(),
	POLAR_ACCESS_TOKEN: z.string().trim().optional(),
	POLAR_SERVER: z.enum(['sandbox', 'production']).default('sandbox'),
	POLAR_API_URL: z.url().optional(),
	POLAR_WEBHOOK_SECRET: z.string().trim().optional(),
	POLAR_TEST_MODE: z.enum(['true', 'false', '1', '0']).optional(),
	POLAR_RECONCILE_INTERVAL_SECONDS: wholeNumber(3600),
	LOG_LEVEL: z.preprocess(
		(value) => (typeof value === 'string' ? value.trim().toLowerCase() : value),
		z.enum(LOG_LEVELS).default('info')
	),
	// Anyone holding it reads the instance's traffic figures: long enough not to be guessed.
	METRICS_TOKEN: z
		.string()
		.trim()
		.min(16, { error: 'must be at least 16 characters (e.g. `openssl rand -hex 32`)' })
		.optional()
});

export interface ChatConfig {
	/** An upstream OpenAI-compatible API, or null for the built-in demo model. */
	upstream: { apiKey: string; baseURL: string | undefined; style: 'responses' | 'chat' } | null;
	/** Selectable models and their credits per 1,000 tokens, in the order given. */
	models: { id: string; rate: number }[];
	maxInputChars: number;
	maxConcurrent: number;
	maxOutputTokens: number;
	historyTokens: number;
	/** Chat requests one user may make per minute (0 = unlimited). */
	ratePerMinute: number;
	/**
	 * How long a reply's credit hold lives. Past it the sweeper takes the reply's process for dead
	 * and settles the hold for what was recorded as owed, so it must outlast the longest reply.
	 */
	holdTtlSeconds: number;
	/**
	 * A membership's fair use: tokens per UTC day its replies may use at 0 credits; past it they
	 * are charged in credits until the next day.
	 */
	membershipDailyTokens: number;
	/** DEMO_MODEL as given; production refuses to start without an upstream unless it is on. */
	demoModel: boolean | undefined;
	demoDelayMs: number;
}

export interface AuthLimitsConfig {
	/** Sign-in, sign-up and password-reset attempts per client address and per account, per minute. */
	perMinute: number;
	/** Failed sign-ins of one account before its exponential backoff starts (0 = no backoff). */
	failuresBeforeBackoff: number;
	/** Emails a stranger can have sent to one address per hour (0 = unlimited). */
	emailsPerHour: number;
}

/**
 * Whether an account's email must be verified: `required` before chatting, `optional` for the
 * signup bonus and admin rights only, `off` never asked (and then nothing follows from an email).
 */
export type EmailVerification = 'required' | 'optional' | 'off';

export interface MailConfig {
	/** SMTP server; unset = messages are printed to the console and kept in `outboxDir`. */
	smtpUrl: string | undefined;
	from: string;
	outboxDir: string;
}

export interface Config {
	databaseUrl: string | undefined;
	/**
	 * Named prepared statements on PostgreSQL connections (DATABASE_PREPARE). Off behind a pooler in
	 * transaction mode (PgBouncer 1.18), which cannot keep a statement prepared on one server
	 * connection for a client that lands on another.
	 */
	databasePrepare: boolean;
	dataDir: string;
	migrationsDir: string;
	authSecret: string | undefined;
	authUrl: string | undefined;
	adminEmails: Set<string>;
	/** Credits every new user gets (0 = none), valid for `days` (0 = never expire). */
	signupBonus: { credits: number; days: number };
	/** Credits every eligible user gets on the first day of each UTC month (0 = off). */
	freeMonthlyCredits: number;
	/** How often the expiry / stale-hold sweep runs (0 = never). */
	sweepIntervalSeconds: number;
	chat: ChatConfig;
	authLimits: AuthLimitsConfig;
	/** Max age of the signed session cookie the chat API may trust without a lookup (0 = off). */
	sessionCacheSeconds: number;
	mail: MailConfig;
	emailVerification: EmailVerification;
	polar: PolarConfig;
	/** Bearer token of `GET /metrics`; unset = the endpoint does not exist (404). */
	metricsToken: string | undefined;
	logLevel: (typeof LOG_LEVELS)[number];
}

export interface PolarConfig {
	/** Organization access token; unset = no real Polar (test mode or payments off). */
	accessToken: string | undefined;
	server: 'sandbox' | 'production';
	/** Overrides the API base URL (tests point it at a local stand-in). */
	apiUrl: string | undefined;
	webhookSecret: string | undefined;
	/** POLAR_TEST_MODE as given; unset = on in development when there is no access token. */
	testMode: boolean | undefined;
	/** How often each instance reconciles recent Polar orders (0 = never). */
	reconcileIntervalSeconds: number;
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
		databasePrepare: parsed.DATABASE_PREPARE === 'true',
		dataDir: parsed.DATA_DIR,
		migrationsDir: parsed.MIGRATIONS_DIR,
		authSecret: parsed.BETTER_AUTH_SECRET || undefined,
		// adapter-node's ORIGIN is what clients use, so it is the natural default for better-auth.
		authUrl: parsed.BETTER_AUTH_URL || parsed.ORIGIN || undefined,
		adminEmails: parseEmailList(parsed.ADMIN_EMAILS),
		signupBonus: { credits: parsed.SIGNUP_BONUS_CREDITS, days: parsed.SIGNUP_BONUS_DAYS },
		freeMonthlyCredits: parsed.FREE_MONTHLY_CREDITS,
		sweepIntervalSeconds: parsed.SWEEP_INTERVAL_SECONDS,
		chat: {
			upstream: upstreamOf(parsed.OPENAI_API_KEY, parsed.OPENAI_BASE_URL, parsed.OPENAI_API_STYLE),
			models: parseChatModels(parsed.CHAT_MODELS),
			maxInputChars: parsed.CHAT_MAX_INPUT_CHARS,
			maxConcurrent: Math.max(1, parsed.CHAT_MAX_CONCURRENT),
			maxOutputTokens: Math.max(1, parsed.CHAT_MAX_OUTPUT_TOKENS),
			historyTokens: parsed.CHAT_HISTORY_TOKENS,
			ratePerMinute: parsed.CHAT_RATE_PER_MINUTE,
			holdTtlSeconds: parsed.CHAT_HOLD_TTL_SECONDS,
			membershipDailyTokens: parsed.MEMBERSHIP_DAILY_TOKENS,
			demoModel: parsed.DEMO_MODEL === undefined ? undefined : parsed.DEMO_MODEL === 'on',
			demoDelayMs: parsed.DEMO_MODEL_DELAY_MS
		},
		authLimits: {
			perMinute: parsed.AUTH_RATE_PER_MINUTE,
			failuresBeforeBackoff: parsed.AUTH_FAILURES_BEFORE_BACKOFF,
			emailsPerHour: parsed.AUTH_EMAILS_PER_HOUR
		},
		sessionCacheSeconds: parsed.AUTH_SESSION_CACHE_SECONDS,
		mail: {
			smtpUrl: parsed.SMTP_URL,
			from: parsed.MAIL_FROM,
			outboxDir: `${parsed.DATA_DIR}/mail`
		},
		// Without a mail server nobody could receive the link, so verification is off by default.
		emailVerification: parsed.EMAIL_VERIFICATION ?? (parsed.SMTP_URL ? 'required' : 'off'),
		polar: {
			accessToken: parsed.POLAR_ACCESS_TOKEN || undefined,
			server: parsed.POLAR_SERVER,
			apiUrl: parsed.POLAR_API_URL,
			webhookSecret: parsed.POLAR_WEBHOOK_SECRET || undefined,
			testMode:
				parsed.POLAR_TEST_MODE === undefined
					? undefined
					: ['true', '1'].includes(parsed.POLAR_TEST_MODE),
			reconcileIntervalSeconds: parsed.POLAR_RECONCILE_INTERVAL_SECONDS
		},
		metricsToken: parsed.METRICS_TOKEN || undefined,
		logLevel: parsed.LOG_LEVEL
	};
}

/**
 * An API key means OpenAI (or the server at OPENAI_BASE_URL); a base URL alone means a local
 * server that needs no key (Ollama, llama.cpp). Neither means the offline demo model.
 */
function upstreamOf(
	apiKey: string | undefined,
	baseURL: string | undefined,
	style: 'responses' | 'chat' | undefined
): ChatConfig['upstream'] {
	if (!apiKey && !baseURL) return null;
	// api.openai.com speaks the Responses API; "OpenAI-compatible" servers speak Chat Completions.
	return {
		apiKey: apiKey || 'not-needed',
		baseURL,
		style: style ?? (baseURL ? 'chat' : 'responses')
	};
}

/** `gpt-4o-mini:1,gpt-4o:10` → [{ id: 'gpt-4o-mini', rate: 1 }, { id: 'gpt-4o', rate: 10 }]. */
export function parseChatModels(list: string): { id: string; rate: number }[] {
	const models = list
		.split(',')
		.map((entry) => entry.trim())
		.filter(Boolean)
		.map((entry) => {
			// Model ids may contain colons themselves (Ollama's llama3.1:8b): the rate is the last
			// part only when it is a number.
			const match = /^(.+):([^:]*)$/.exec(entry);
			const [id, rate] =
				match && /^[\d.]+$/.test(match[2].trim())
					? [match[1].trim(), Number(match[2])]
					: [entry, 1];
			if (!id || !Number.isFinite(rate) || rate <= 0) {
				throw new StartupError(
					`CHAT_MODELS entry "${entry}" must look like model-id:rate (rate > 0).`
				);
			}
			return { id, rate };
		});
	if (models.length === 0) throw new StartupError('CHAT_MODELS lists no model.');
	return models;
}

export function parseEmailList(list: string): Set<string> {
	return new Set(
		list
			.split(/[\s,;]+/)
			.map((email) => email.trim().toLowerCase())
			.filter(Boolean)
	);
}
