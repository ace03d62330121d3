import { createEmailVerificationToken } from 'better-auth/api';
import type { AuthLimitsConfig } from '../config';
import type { Db } from '../db/client';
import { sendInBackground, type Mailer, type MailMessage } from '../mail/mailer';
import { accountExistsEmail, passwordResetEmail, verificationEmail } from '../mail/messages';
import { admitAccountEmail } from './throttle';
import { log } from '../log';

/** Verification and password-reset links are valid this long. */
export const EMAIL_LINK_SECONDS = 60 * 60;

interface Recipient {
	id: string;
	email: string;
	name: string;
}

/**
 * The account emails better-auth asks for, with links to our own pages (better-auth's point at
 * its JSON endpoints). Every one is counted against the recipient's hourly allowance, and sent
 * in the background: a stranger's request is answered the same whether or not a message went out.
 */
export function createAccountEmails(deps: {
	db: Db;
	mailer: Mailer;
	limits: AuthLimitsConfig;
	/** better-auth's secret: verification links are tokens signed with it. */
	secret: string;
}) {
	async function send(to: Recipient, message: MailMessage) {
		if (!(await admitAccountEmail(deps.db, deps.limits, to.email))) {
			log.warn(
				`[mail] not sending "${message.subject}": the hourly limit for this address is reached`
			);
			return;
		}
		sendInBackground(deps.mailer, message);
	}
	return {
		/** A link that verifies the address and signs in; better-auth passes its token, else one is made. */
		async verification(to: Recipient, origin: string, token?: string) {
			token ??= await createEmailVerificationToken(
				deps.secret,
				to.email,
				undefined,
				EMAIL_LINK_SECONDS,
				{ userId: to.id }
			);
			await send(
				to,
				verificationEmail(to, `${origin}/verify-email?token=${encodeURIComponent(token)}`)
			);
		},
		passwordReset: (to: Recipient, origin: string, token: string) =>
			send(
				to,
				passwordResetEmail(to, `${origin}/reset-password?token=${encodeURIComponent(token)}`)
			),
		accountExists: (to: Recipient, origin: string) =>
			send(
				to,
				accountExistsEmail(to, { signIn: `${origin}/login`, reset: `${origin}/forgot-password` })
			)
	};
}

export type AccountEmails = ReturnType<typeof createAccountEmails>;
