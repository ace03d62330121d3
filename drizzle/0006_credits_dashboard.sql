CREATE TABLE "credit_usage_daily" (
	"user_id" text NOT NULL,
	"day" date NOT NULL,
	"model" text NOT NULL,
	"credits" bigint NOT NULL,
	CONSTRAINT "credit_usage_daily_user_id_day_model_pk" PRIMARY KEY("user_id","day","model")
);
--> statement-breakpoint
CREATE TABLE "credit_usage_rollup" (
	"user_id" text PRIMARY KEY NOT NULL,
	"through" date NOT NULL
);
--> statement-breakpoint
DROP INDEX "credit_transaction_user_history_idx";--> statement-breakpoint
DROP INDEX "credit_transaction_user_type_idx";--> statement-breakpoint
ALTER TABLE "credit_usage_daily" ADD CONSTRAINT "credit_usage_daily_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_usage_rollup" ADD CONSTRAINT "credit_usage_rollup_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "credit_transaction_user_time_idx" ON "credit_transaction" USING btree ("user_id","created_at","id");--> statement-breakpoint
CREATE INDEX "credit_transaction_user_type_time_idx" ON "credit_transaction" USING btree ("user_id","type","created_at","id");