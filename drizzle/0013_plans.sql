CREATE TABLE "credit_alert" (
	"user_id" text PRIMARY KEY NOT NULL,
	"threshold" integer NOT NULL,
	"armed" boolean DEFAULT true NOT NULL,
	"fired_at" timestamp with time zone,
	"fired_available" integer,
	"dismissed_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_alert_threshold_positive" CHECK ("credit_alert"."threshold" >= 1)
);
--> statement-breakpoint
CREATE TABLE "credit_allocation" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" text NOT NULL,
	"name" text NOT NULL,
	"credits" integer NOT NULL,
	"bonus_credits" integer DEFAULT 0 NOT NULL,
	"daily_limit" integer,
	"months" integer NOT NULL,
	"months_granted" integer DEFAULT 0 NOT NULL,
	"starts_at" timestamp with time zone NOT NULL,
	"next_at" timestamp with time zone,
	"stopped_at" timestamp with time zone,
	"polar_order_id" text NOT NULL,
	"polar_product_id" text,
	"polar_subscription_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_allocation_credits_positive" CHECK ("credit_allocation"."credits" > 0 and "credit_allocation"."bonus_credits" >= 0),
	CONSTRAINT "credit_allocation_months_in_range" CHECK ("credit_allocation"."months" >= 1 and "credit_allocation"."months_granted" >= 0 and "credit_allocation"."months_granted" <= "credit_allocation"."months")
);
--> statement-breakpoint
CREATE TABLE "billing_subscription" (
	"id" text PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"polar_product_id" text NOT NULL,
	"product_name" text NOT NULL,
	"plan_key" text,
	"recurring_interval" text,
	"membership" boolean DEFAULT false NOT NULL,
	"status" text NOT NULL,
	"current_period_start" timestamp with time zone,
	"current_period_end" timestamp with time zone,
	"cancel_at_period_end" boolean DEFAULT false NOT NULL,
	"ended_at" timestamp with time zone,
	"event_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "credit_hold" DROP CONSTRAINT "credit_hold_amount_positive";--> statement-breakpoint
ALTER TABLE "credit_package" DROP CONSTRAINT "credit_package_source_known";--> statement-breakpoint
ALTER TABLE "credit_transaction" DROP CONSTRAINT "credit_transaction_amount_non_zero";--> statement-breakpoint
DROP INDEX "credit_transaction_package_idx";--> statement-breakpoint
ALTER TABLE "credit_hold" ADD COLUMN "membership_tokens" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_package" ADD COLUMN "daily_limit" integer;--> statement-breakpoint
ALTER TABLE "credit_package" ADD COLUMN "frozen_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "credit_package" ADD COLUMN "parent_package_id" uuid;--> statement-breakpoint
ALTER TABLE "credit_package" ADD COLUMN "allocation_id" uuid;--> statement-breakpoint
ALTER TABLE "credit_package" ADD COLUMN "allocation_month" integer;--> statement-breakpoint
ALTER TABLE "credit_package" ADD COLUMN "free_month" text;--> statement-breakpoint
ALTER TABLE "credit_alert" ADD CONSTRAINT "credit_alert_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_allocation" ADD CONSTRAINT "credit_allocation_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "billing_subscription" ADD CONSTRAINT "billing_subscription_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "credit_allocation_polar_order_id_key" ON "credit_allocation" USING btree ("polar_order_id");--> statement-breakpoint
CREATE INDEX "credit_allocation_due_idx" ON "credit_allocation" USING btree ("next_at") WHERE "credit_allocation"."next_at" is not null and "credit_allocation"."stopped_at" is null;--> statement-breakpoint
CREATE INDEX "credit_allocation_user_idx" ON "credit_allocation" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "billing_subscription_user_idx" ON "billing_subscription" USING btree ("user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "credit_package_allocation_month_key" ON "credit_package" USING btree ("allocation_id","allocation_month");--> statement-breakpoint
CREATE UNIQUE INDEX "credit_package_free_month_key" ON "credit_package" USING btree ("user_id","free_month");--> statement-breakpoint
CREATE UNIQUE INDEX "credit_package_bonus_parent_key" ON "credit_package" USING btree ("parent_package_id");--> statement-breakpoint
CREATE INDEX "credit_package_subscription_idx" ON "credit_package" USING btree ("polar_subscription_id") WHERE "credit_package"."polar_subscription_id" is not null;--> statement-breakpoint
CREATE INDEX "credit_transaction_package_idx" ON "credit_transaction" USING btree ("package_id","created_at");--> statement-breakpoint
ALTER TABLE "credit_hold" ADD CONSTRAINT "credit_hold_amount_positive" CHECK ("credit_hold"."amount" >= 0 and "credit_hold"."membership_tokens" >= 0 and ("credit_hold"."amount" > 0 or "credit_hold"."membership_tokens" > 0));--> statement-breakpoint
ALTER TABLE "credit_package" ADD CONSTRAINT "credit_package_daily_limit_positive" CHECK ("credit_package"."daily_limit" is null or "credit_package"."daily_limit" > 0);--> statement-breakpoint
ALTER TABLE "credit_package" ADD CONSTRAINT "credit_package_allocation_month_positive" CHECK ("credit_package"."allocation_month" is null or "credit_package"."allocation_month" >= 1);--> statement-breakpoint
ALTER TABLE "credit_package" ADD CONSTRAINT "credit_package_free_month_shape" CHECK ("credit_package"."free_month" is null or "credit_package"."free_month" ~ '^[0-9]{4}-[0-9]{2}$');--> statement-breakpoint
ALTER TABLE "credit_package" ADD CONSTRAINT "credit_package_source_known" CHECK ("credit_package"."source" in ('signup_bonus', 'purchase', 'subscription', 'admin_grant', 'bonus', 'free_monthly'));--> statement-breakpoint
ALTER TABLE "credit_transaction" ADD CONSTRAINT "credit_transaction_amount_non_zero" CHECK ("credit_transaction"."amount" <> 0 or ("credit_transaction"."type" = 'usage' and "credit_transaction"."package_id" is null));