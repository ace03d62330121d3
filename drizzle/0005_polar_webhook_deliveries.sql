CREATE TABLE "polar_webhook_delivery" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"webhook_id" text NOT NULL,
	"type" text NOT NULL,
	"payload" jsonb NOT NULL,
	"outcome" text NOT NULL,
	"error" text,
	"result" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"user_id" text,
	"order_id" text,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"processed_at" timestamp with time zone,
	CONSTRAINT "polar_webhook_delivery_outcome_known" CHECK ("polar_webhook_delivery"."outcome" in ('received', 'processed', 'ignored', 'failed'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX "polar_webhook_delivery_webhook_id_key" ON "polar_webhook_delivery" USING btree ("webhook_id");--> statement-breakpoint
CREATE INDEX "polar_webhook_delivery_order_idx" ON "polar_webhook_delivery" USING btree ("order_id");