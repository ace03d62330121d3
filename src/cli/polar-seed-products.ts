import { creditPacks } from '../../config/credit-packs';
import { plans } from '../../config/plans';
import { createPolarClient } from '../lib/server/billing/polar';
import { seedProducts } from '../lib/server/billing/seed-products';
import { readConfig } from '../lib/server/config';
import { existsSync } from 'node:fs';
import { fail } from './context';

// Talks to Polar only; no database needed.
if (existsSync('.env')) process.loadEnvFile('.env');
const config = readConfig(process.env);
const polar = createPolarClient(config.polar);
if (!polar)
	fail('POLAR_ACCESS_TOKEN is not set: create an organization access token in Polar first.');
const where = config.polar.apiUrl ?? `Polar ${config.polar.server}`;
try {
	const result = await seedProducts(polar, creditPacks, plans);
	console.log(`Credit packs and plans in ${where}:`);
	for (const key of result.created) console.log(`  created    ${key}`);
	for (const key of result.updated) console.log(`  updated    ${key}`);
	for (const key of result.unchanged) console.log(`  unchanged  ${key}`);
} catch (error) {
	fail(`Seeding stopped: ${error instanceof Error ? error.message : String(error)}`);
}
