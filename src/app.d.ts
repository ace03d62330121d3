import type { SessionData } from '$lib/server/auth/auth';
import type { CreditsOverview } from '$lib/server/credits';

declare global {
	namespace App {
		interface Error {
			message: string;
			/** Request id to quote when reporting a server error. */
			id?: string;
		}
		interface Locals {
			requestId: string;
			user: SessionData['user'] | null;
			session: SessionData['session'] | null;
			/** Set by requestCreditsOverview(): one read per request for layout and page. */
			creditsOverview?: Promise<CreditsOverview>;
		}
	}
}

export {};
