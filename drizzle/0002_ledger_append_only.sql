-- Custom migration (drizzle-kit generate --custom): the ledger is append-only, enforced by the
-- database. Rows may only disappear with their user (a cascaded delete runs at trigger depth > 1).
CREATE FUNCTION credit_transaction_append_only() RETURNS trigger AS $$
BEGIN
	IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN
		RETURN OLD;
	END IF;
	RAISE EXCEPTION 'credit_transaction is append-only (% refused)', TG_OP
		USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER credit_transaction_append_only
	BEFORE UPDATE OR DELETE ON credit_transaction
	FOR EACH ROW EXECUTE FUNCTION credit_transaction_append_only();
