import type { SessionData } from '$lib/server/auth/auth';
import type { CreditsOverview } from '$lib/server/credits';
import type { Logger } from '$lib/server/log';

declare global {
	namespace App {
		interface Error {
			message: string;
			/** Request id to quote when reporting a server error. */
			id?: string;
		}
		interface Locals {
			requestId: string;
			/** The server's logger with this request's `requestId` on every line. */
			log: Logger;
			user: SessionData['user'] | null;
			session: SessionData['session'] | null;
			/** Set by requestCreditsOverview(): one read per request for layout and page. */
			creditsOverview?: Promise<CreditsOverview>;
		}
	}
}

export {};
