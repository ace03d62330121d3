import { defineConfig } from 'drizzle-kit';

// Migrations are generated from the schema and applied at server start (src/hooks.server.ts),
// so the same folder serves PostgreSQL and the embedded PGlite database.
export default defineConfig({
	dialect: 'postgresql',
	schema: './src/lib/server/db/schema/index.ts',
	out: './drizzle',
	strict: true,
	verbose: true
});
