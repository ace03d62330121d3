import { creditsOverview, type CreditsOverview } from '../credits';
import type { Db } from '../db/client';

/**
 * The user's credits overview, read once per request: the dashboard layout (header badge) and
 * the credits page both need it, and SvelteKit runs their loads in the same request.
 */
export function requestCreditsOverview(
	locals: App.Locals,
	db: Db,
	userId: string
): Promise<CreditsOverview> {
	return (locals.creditsOverview ??= creditsOverview(db, userId));
}
