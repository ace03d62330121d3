import { dev } from '$app/environment';
import { env } from '$env/dynamic/private';
import { createAccountEmails, type AccountEmails } from './auth/account-email';
import { createAuth, type Auth } from './auth/auth';
import { promoteVerifiedAdmins } from './auth/verified-owner';
import { createBillingContext, type BillingContext } from './billing/context';
import { resolveAuthSecret } from './auth/secret';
import { readConfig, StartupError, type Config } from './config';
import { openDatabase, type Database } from './db/client';
import { createModelRegistry, type ModelRegistry } from './chat/models';
import { drainRuns } from './chat/runs';
import { startReconciliation, startSweeps } from './jobs';
import { setLowBalanceNotifier } from './credits/low-balance';
import { lowBalanceMailer } from './mail/low-balance';
import { createMailer } from './mail/mailer';
import { log } from './log';

const DEV_URL = 'http://localhost:5173';
// How long a stopping server lets running replies finish before it stops them.
const SHUTDOWN_GRACE_MS = 20_000;

/** The server's long-lived parts, created once by the `init` hook. */
interface Runtime {
	config: Config;
	database: Database;
	auth: Auth;
	/** better-auth's secret (auth/session-memo.ts checks the cookie cache's signature with it). */
	authSecret: string;
	emails: AccountEmails;
	models: ModelRegistry;
	billing: BillingContext;
}

// Kept on globalThis so that Vite's hot reload in development does not open a second database.
const holder = globalThis as typeof globalThis & { __creditChatRuntime?: Promise<Runtime> };

/** The runtime; the first call (from the `init` hook) creates it, every later one shares it. */
export function runtime(): Promise<Runtime> {
	holder.__creditChatRuntime ??= createRuntime();
	return holder.__creditChatRuntime;
}

async function createRuntime(): Promise<Runtime> {
	const config = readConfig(env);
	const secret = resolveAuthSecret({
		configured: config.authSecret,
		production: !dev,
		dataDir: config.dataDir
	});
	// The demo model answers and charges without any real model behind it: fine on a laptop, a
	// surprise in production unless the operator asked for it.
	if (!dev && !config.chat.upstream && !config.chat.demoModel) {
		throw new StartupError(
			'no chat model is configured: set OPENAI_API_KEY and/or OPENAI_BASE_URL, or DEMO_MODEL=on to serve the offline demo model.'
		);
	}
	// Without a configured origin, better-auth would build the links in emails from each request's
	// Host header: anyone could mail a victim a genuine reset link pointing at their own server.
	if (!dev && config.mail.smtpUrl && !config.authUrl) {
		throw new StartupError(
			'SMTP_URL is set but ORIGIN (or BETTER_AUTH_URL) is not: set it to the public URL, e.g. https://chat.example.com, so links in emails point to this server.'
		);
	}
	const billing = createBillingContext(config.polar, { production: !dev, dataDir: config.dataDir });
	const database = openDatabase({
		url: config.databaseUrl,
		dataDir: `${config.dataDir}/pglite`,
		prepare: config.databasePrepare
	});
	await database.migrate(config.migrationsDir);
	const mailer = createMailer(config.mail);
	setLowBalanceNotifier(
		lowBalanceMailer({ db: database.db, mailer, limits: config.authLimits, origin: config.authUrl })
	);
	const emails = createAccountEmails({
		db: database.db,
		mailer,
		limits: config.authLimits,
		secret
	});
	const adminAtSignUp = dev && config.emailVerification === 'off';
	const auth = createAuth({
		db: database.db,
		secret,
		// `npm run dev` serves on localhost:5173 unless told otherwise.
		baseURL: config.authUrl ?? (dev ? DEV_URL : undefined),
		trustedOrigins: dev ? [DEV_URL, 'http://127.0.0.1:5173'] : [],
		adminEmails: config.adminEmails,
		adminAtSignUp,
		signupBonus: config.signupBonus,
		freeMonthlyCredits: config.freeMonthlyCredits,
		emailVerification: config.emailVerification,
		emails,
		sessionCacheSeconds: config.sessionCacheSeconds
	});
	await announceAccountSetup(database, config, adminAtSignUp);
	const stopJobs = [
		startSweeps(database.db, config.sweepIntervalSeconds, {
			freeMonthlyCredits: config.freeMonthlyCredits,
			requireVerifiedEmail: config.emailVerification !== 'off'
		})
	];
	if (billing.polar) {
		stopJobs.push(
			startReconciliation(database.db, billing.polar, config.polar.reconcileIntervalSeconds)
		);
	}
	// `node build` never exits on SIGTERM while a database client is open. Replies still running
	// (their tabs may be long closed) get to finish and settle before the database closes.
	process.once('sveltekit:shutdown', async () => {
		for (const stop of stopJobs) stop();
		await drainRuns(SHUTDOWN_GRACE_MS);
		await database.close();
	});
	const models = createModelRegistry(config.chat);
	return { config, database, auth, authSecret: secret, emails, models, billing };
}

/** Promotes verified ADMIN_EMAILS owners and says, once, how email and admin rights work here. */
async function announceAccountSetup(database: Database, config: Config, adminAtSignUp: boolean) {
	for (const email of await promoteVerifiedAdmins(database.db, config.adminEmails)) {
		log.info(`ADMIN_EMAILS: ${email} is verified and now an admin.`);
	}
	if (!config.mail.smtpUrl && !dev) {
		log.warn(
			`SMTP_URL is not set: account emails (verification, password reset) are only written to the log and ${config.mail.outboxDir}/.`
		);
	}
	if (config.adminEmails.size === 0) return;
	if (adminAtSignUp) {
		log.info(
			'ADMIN_EMAILS: development without email verification, so these addresses become admins as soon as they sign up.'
		);
	} else if (config.emailVerification === 'off') {
		log.warn(
			'ADMIN_EMAILS: email verification is off, so nobody becomes an admin by signing up; run `npm run admin:grant <email>` instead.'
		);
	}
}
