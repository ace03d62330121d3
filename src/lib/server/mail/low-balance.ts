import type { AuthLimitsConfig } from '../config';
import type { LowBalanceNotifier } from '../credits/low-balance';
import type { Db } from '../db/client';
import { admitAccountEmail } from '../auth/throttle';
import { sendInBackground, type Mailer } from './mailer';
import { lowBalanceEmail } from './messages';
import { log } from '../log';

/**
 * The low-balance email, within the recipient's hourly allowance of emails (the same one the
 * account emails count against), sent in the background so a reply never waits for SMTP.
 */
export function lowBalanceMailer(deps: {
	db: Db;
	mailer: Mailer;
	limits: AuthLimitsConfig;
	/** The public origin for the links; relative links without one (development). */
	origin: string | undefined;
}): LowBalanceNotifier {
	const origin = deps.origin ?? '';
	return async (crossing) => {
		if (!(await admitAccountEmail(deps.db, deps.limits, crossing.email))) {
			log.warn('[mail] not sending the low-balance alert: the hourly limit is reached');
			return;
		}
		sendInBackground(
			deps.mailer,
			lowBalanceEmail(crossing, crossing, {
				buy: `${origin}/dashboard/buy#plans`,
				settings: `${origin}/dashboard/settings#low-balance`
			})
		);
	};
}
