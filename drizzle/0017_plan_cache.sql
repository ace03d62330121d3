-- Custom migration (drizzle-kit generate --custom): the functions that move credits plan their
-- statements once per connection, not on every call.
-- The app's connections run with plan_cache_mode = force_custom_plan (src/lib/server/db/client.ts):
-- a query over one user's rows is planned for that user, because a generic plan fits the average
-- user and not necessarily the one with a million ledger rows. Inside these functions every
-- statement looks up a few rows by key (the account, a hold, the user's open packages in expiry
-- order, a chat, its run, a message), whose best plan is the same index scan for any user; so
-- re-planning them on every call only costs CPU (about 3 ms of PostgreSQL's time per chat reply
-- in bench:chat). `auto` lets PostgreSQL keep the generic plan after five calls when it is no
-- worse than the custom ones, as it does by default.
ALTER FUNCTION credit_reserve(text, numeric, numeric, numeric, numeric, text, text, text, text,
	double precision, timestamptz, text) SET plan_cache_mode = auto;
--> statement-breakpoint
ALTER FUNCTION credit_settle(text, uuid, integer, integer, text, text, jsonb, timestamptz)
	SET plan_cache_mode = auto;
--> statement-breakpoint
ALTER FUNCTION chat_start(text, numeric, numeric, numeric, numeric, text, text, text, text,
	double precision, timestamptz, text, numeric, boolean, text, text, text, text, jsonb, integer,
	integer) SET plan_cache_mode = auto;
