import { createPolar, type Polar } from '@polar-sh/sdk/2026-10';
import type { PolarConfig } from '../config';

export type { Polar };

/** Seconds before a Polar API call gives up; page loads must never hang on Polar. */
const TIMEOUT_SECONDS = 8;

/** The Polar API client, or null when no access token is configured. */
export function createPolarClient(config: PolarConfig): Polar | null {
	if (!config.accessToken) return null;
	return createPolar({
		accessToken: config.accessToken,
		environment: config.server,
		baseUrl: config.apiUrl,
		timeout: TIMEOUT_SECONDS
	});
}
