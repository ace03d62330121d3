DROP INDEX "credit_transaction_user_history_idx";--> statement-breakpoint
DROP INDEX "credit_transaction_user_type_idx";--> statement-breakpoint
CREATE INDEX "credit_transaction_user_time_idx" ON "credit_transaction" USING btree ("user_id","created_at","id");--> statement-breakpoint
CREATE INDEX "credit_transaction_user_type_time_idx" ON "credit_transaction" USING btree ("user_id","type","created_at","id");