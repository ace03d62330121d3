import type { PolarConfig } from '../config';
import { cachedCatalog, fetchPolarCatalog, testModeCatalog, type Catalog } from './catalog';
import { resolveBilling, type Billing } from './mode';
import { createPolarClient, type Polar } from './polar';

/** Everything purchases need, created once at start-up (runtime.ts). */
export interface BillingContext extends Billing {
	/** The Polar API client; null unless the mode is `polar`. */
	polar: Polar | null;
	/** What the buy page offers (cached when it comes from Polar). */
	catalog: () => Promise<Catalog>;
}

export function createBillingContext(
	config: PolarConfig,
	options: { production: boolean; dataDir: string }
): BillingContext {
	const billing = resolveBilling(config, options);
	const polar = createPolarClient(config);
	const catalog: () => Promise<Catalog> = polar
		? cachedCatalog(() => fetchPolarCatalog(polar))
		: async () => ({
				items: billing.mode === 'test' ? testModeCatalog() : [],
				staleSince: null,
				unavailable: false
			});
	return { ...billing, polar, catalog };
}
