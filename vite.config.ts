import { sveltekit } from '@sveltejs/kit/vite';
import tailwindcss from '@tailwindcss/vite';
import { defineConfig } from 'vitest/config';

const postgresSetup = './tests/setup/postgres.ts';

export default defineConfig({
	plugins: [tailwindcss(), sveltekit()],
	test: {
		expect: { requireAssertions: true },
		projects: [
			{
				extends: true,
				test: { name: 'unit', include: ['src/**/*.spec.ts'], environment: 'node' }
			},
			{
				// Database suites: each file runs on PGlite and on a real PostgreSQL.
				extends: true,
				test: {
					name: 'db',
					include: ['tests/db/**/*.test.ts'],
					globalSetup: [postgresSetup],
					testTimeout: 30_000,
					hookTimeout: 60_000
				}
			},
			{
				// HTTP suites: the built app (`node build`) on a random port against real PostgreSQL.
				extends: true,
				test: {
					name: 'http',
					include: ['tests/http/**/*.test.ts'],
					globalSetup: [postgresSetup],
					testTimeout: 30_000,
					hookTimeout: 60_000
				}
			},
			{
				// Security suites: the built app attacked over HTTP (routes, throttling, load, fuzz).
				extends: true,
				test: {
					name: 'security',
					include: ['tests/security/**/*.test.ts'],
					globalSetup: [postgresSetup],
					testTimeout: 60_000,
					hookTimeout: 60_000
				}
			},
			{
				// Browser suites: a real Chromium driven by playwright-core against the built app.
				extends: true,
				test: {
					name: 'browser',
					include: ['tests/browser/**/*.test.ts'],
					globalSetup: [postgresSetup],
					testTimeout: 60_000,
					hookTimeout: 90_000,
					fileParallelism: false
				}
			},
			{
				// Fault suites: the built app under crashes, database outages and several instances (npm run test:faults).
				extends: true,
				test: {
					name: 'faults',
					include: ['tests/faults/**/*.test.ts'],
					globalSetup: [postgresSetup],
					testTimeout: 180_000,
					hookTimeout: 120_000,
					fileParallelism: false
				}
			}
		]
	}
});
