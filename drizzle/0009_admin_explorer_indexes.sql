CREATE TABLE "admin_ledger_daily" (
	"day" date NOT NULL,
	"type" text NOT NULL,
	"model" text NOT NULL,
	"amount" integer NOT NULL,
	"rows" bigint NOT NULL,
	"tokens" bigint NOT NULL,
	CONSTRAINT "admin_ledger_daily_day_type_model_amount_pk" PRIMARY KEY("day","type","model","amount")
);
--> statement-breakpoint
CREATE TABLE "admin_ledger_rollup" (
	"key" text PRIMARY KEY NOT NULL,
	"through" date NOT NULL
);
--> statement-breakpoint
CREATE INDEX "credit_transaction_time_idx" ON "credit_transaction" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "credit_transaction_model_time_idx" ON "credit_transaction" USING btree (("metadata"->>'model'),"created_at","id");