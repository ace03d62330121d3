CREATE TABLE "credit_account" (
	"user_id" text PRIMARY KEY NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "credit_hold" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" text NOT NULL,
	"amount" integer NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"owed_credits" integer DEFAULT 0 NOT NULL,
	"charged_credits" integer,
	"chat_id" text,
	"description" text NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"idempotency_key" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"resolved_at" timestamp with time zone,
	CONSTRAINT "credit_hold_status_known" CHECK ("credit_hold"."status" in ('pending', 'settled', 'voided', 'expired')),
	CONSTRAINT "credit_hold_amount_positive" CHECK ("credit_hold"."amount" > 0),
	CONSTRAINT "credit_hold_owed_non_negative" CHECK ("credit_hold"."owed_credits" >= 0)
);
--> statement-breakpoint
CREATE TABLE "credit_operation" (
	"key" text PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"operation" text NOT NULL,
	"fingerprint" text NOT NULL,
	"result" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "credit_package" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" text NOT NULL,
	"source" text NOT NULL,
	"name" text NOT NULL,
	"initial_credits" integer NOT NULL,
	"remaining_credits" integer NOT NULL,
	"revoked_credits" integer DEFAULT 0 NOT NULL,
	"expired_credits" integer DEFAULT 0 NOT NULL,
	"expires_at" timestamp with time zone,
	"polar_order_id" text,
	"polar_product_id" text,
	"polar_subscription_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_package_source_known" CHECK ("credit_package"."source" in ('signup_bonus', 'purchase', 'subscription', 'admin_grant')),
	CONSTRAINT "credit_package_initial_positive" CHECK ("credit_package"."initial_credits" > 0),
	CONSTRAINT "credit_package_remaining_in_range" CHECK ("credit_package"."remaining_credits" >= 0 and "credit_package"."remaining_credits" <= "credit_package"."initial_credits"),
	CONSTRAINT "credit_package_taken_in_range" CHECK ("credit_package"."revoked_credits" >= 0 and "credit_package"."expired_credits" >= 0 and "credit_package"."remaining_credits" + "credit_package"."revoked_credits" + "credit_package"."expired_credits" <= "credit_package"."initial_credits")
);
--> statement-breakpoint
CREATE TABLE "credit_transaction" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"package_id" uuid,
	"type" text NOT NULL,
	"amount" integer NOT NULL,
	"balance_after" integer NOT NULL,
	"description" text NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"idempotency_key" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_transaction_type_known" CHECK ("credit_transaction"."type" in ('bonus', 'purchase', 'subscription', 'grant', 'usage', 'refund', 'expire', 'adjust')),
	CONSTRAINT "credit_transaction_balance_after_non_negative" CHECK ("credit_transaction"."balance_after" >= 0),
	CONSTRAINT "credit_transaction_amount_non_zero" CHECK ("credit_transaction"."amount" <> 0)
);
--> statement-breakpoint
ALTER TABLE "credit_account" ADD CONSTRAINT "credit_account_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_hold" ADD CONSTRAINT "credit_hold_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_operation" ADD CONSTRAINT "credit_operation_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_package" ADD CONSTRAINT "credit_package_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_transaction" ADD CONSTRAINT "credit_transaction_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_transaction" ADD CONSTRAINT "credit_transaction_package_id_credit_package_id_fk" FOREIGN KEY ("package_id") REFERENCES "public"."credit_package"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "credit_hold_idempotency_key_key" ON "credit_hold" USING btree ("idempotency_key");--> statement-breakpoint
CREATE INDEX "credit_hold_user_pending_idx" ON "credit_hold" USING btree ("user_id") WHERE "credit_hold"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "credit_hold_stale_idx" ON "credit_hold" USING btree ("expires_at") WHERE "credit_hold"."status" = 'pending';--> statement-breakpoint
CREATE UNIQUE INDEX "credit_package_polar_order_id_key" ON "credit_package" USING btree ("polar_order_id");--> statement-breakpoint
CREATE INDEX "credit_package_spend_idx" ON "credit_package" USING btree ("user_id","expires_at","created_at");--> statement-breakpoint
CREATE INDEX "credit_package_due_idx" ON "credit_package" USING btree ("expires_at") WHERE "credit_package"."remaining_credits" > 0 and "credit_package"."expires_at" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "credit_transaction_idempotency_key_key" ON "credit_transaction" USING btree ("idempotency_key");--> statement-breakpoint
CREATE INDEX "credit_transaction_user_history_idx" ON "credit_transaction" USING btree ("user_id","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "credit_transaction_user_type_idx" ON "credit_transaction" USING btree ("user_id","type","id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "credit_transaction_type_created_idx" ON "credit_transaction" USING btree ("type","created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "credit_transaction_package_idx" ON "credit_transaction" USING btree ("package_id");