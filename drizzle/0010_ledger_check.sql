CREATE TABLE "ledger_check" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"users" integer NOT NULL,
	"packages" integer NOT NULL,
	"transactions" integer NOT NULL,
	"drift_count" integer NOT NULL,
	"drifts" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"duration_ms" integer NOT NULL,
	"ran_by" text NOT NULL,
	"ran_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "ledger_check_ran_at_idx" ON "ledger_check" USING btree ("ran_at");