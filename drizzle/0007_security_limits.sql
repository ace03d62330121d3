CREATE TABLE "polar_checkout" (
	"user_id" text NOT NULL,
	"product_id" text NOT NULL,
	"url" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "polar_checkout_user_id_product_id_pk" PRIMARY KEY("user_id","product_id")
);
--> statement-breakpoint
CREATE TABLE "rate_limit" (
	"key" text PRIMARY KEY NOT NULL,
	"hits" integer NOT NULL,
	"window_ends_at" timestamp with time zone NOT NULL,
	"blocked_until" timestamp with time zone,
	CONSTRAINT "rate_limit_hits_positive" CHECK ("rate_limit"."hits" >= 0)
);
--> statement-breakpoint
CREATE INDEX "rate_limit_window_ends_at_idx" ON "rate_limit" USING btree ("window_ends_at");