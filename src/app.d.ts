import type { SessionData } from '$lib/server/auth/auth';

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
		}
	}
}

export {};
