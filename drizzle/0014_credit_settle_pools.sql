-- Custom migration (drizzle-kit generate --custom): credit_settle() learns plan pools and
-- memberships (issue 13). It replaces the function of 0004_credit_settle_function.sql, whose
-- rules below still hold; the new ones are marked "issue 13".
--
-- This is the one place where ledger logic lives in SQL; everything else is in
-- src/lib/server/credits. It exists for speed: a settlement runs after every reply, and as one
-- call it costs one round trip instead of about thirteen. It must keep doing exactly what the
-- TypeScript ledger does, so change both together:
--   * one transaction (the calling statement's), locking the user's credit_account row first,
--     then the hold, then the packages in spend order (src/lib/server/credits/transaction.ts);
--   * spend order: soonest expires_at first, never-expiring last, then oldest, then id; the
--     reference is compareSpendOrder() and allocate() in src/lib/server/credits/allocation.ts;
--   * issue 13: only packages that may be spent now are charged: not frozen (frozen_at NULL),
--     and a package with a daily_limit gives at most its room today = daily_limit - the credits
--     its usage rows took since midnight UTC (roomOf() and packagesWithRoom() in
--     src/lib/server/credits/daily-limit.ts). The balance still counts frozen and limited
--     credits (balance_after as balanceAt() in ledger.ts); what the settlement may take beyond
--     its own hold is what is spendable now less the other pending holds;
--   * issue 13: the tokens a membership paid for (at most the hold's membership_tokens) are
--     written as ONE usage row of amount 0 without a package, balance_after = the balance,
--     metadata membershipTokens = N, keyed `<key>#membership`;
--   * idempotency as once() in idempotency.ts: a key already used with the same arguments
--     returns the stored result with "replayed": true, with other arguments it is a conflict;
--   * ledger rows as appendEntries() in ledger.ts: one per package touched, each with the
--     balance_after it produced, keyed `<key>#<n>`.
-- Refusals are raised with SQLSTATEs of a class of our own, which settleHold() in holds.ts maps
-- back to LedgerError codes: CL001 hold_not_found, CL002 hold_already_resolved (DETAIL = the
-- hold's status), CL003 idempotency_conflict. Other errors are bugs and roll everything back.
--
-- Citus: once the owner is known every statement filters on user_id, so with p_user_id given
-- the whole call can run on the user's shard after
--   SELECT create_distributed_function(
--     'credit_settle(text, uuid, integer, integer, text, text, jsonb, timestamptz)', 'p_user_id',
--     colocate_with := 'credit_package');
-- Two lookups would need user_id on Citus: the owner lookup when p_user_id is NULL (settle()
-- knows only the hold id) and the credit_operation lookup by key, as in idempotency.ts.
DROP FUNCTION IF EXISTS credit_settle(text, uuid, integer, text, text, jsonb, timestamptz);
--> statement-breakpoint
CREATE OR REPLACE FUNCTION credit_settle(
	p_user_id text,
	p_hold_id uuid,
	p_cost integer,
	p_membership_tokens integer,
	p_key text,
	p_description text,
	p_metadata jsonb,
	p_now timestamptz
) RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
	v_user_id text := p_user_id;
	-- canonicalJson({ holdId, cost }) of idempotency.ts, byte for byte (sorted keys, no spaces),
	-- so that results stored by the TypeScript ledger and by this function compare equal; with
	-- membership tokens, canonicalJson({ holdId, cost, membershipTokens }).
	v_fingerprint text := CASE WHEN coalesce(p_membership_tokens, 0) > 0
		THEN format('{"cost":%s,"holdId":%s,"membershipTokens":%s}', p_cost,
			to_json(p_hold_id::text), p_membership_tokens)
		ELSE format('{"cost":%s,"holdId":%s}', p_cost, to_json(p_hold_id::text)) END;
	v_previous credit_operation%ROWTYPE;
	v_hold credit_hold%ROWTYPE;
	v_package record;
	v_package_ids uuid[] := '{}';
	v_package_rooms integer[] := '{}';
	-- bigint: a sum over packages may pass the integer range even when each package does not.
	v_balance bigint := 0;
	v_spendable bigint := 0;
	v_room integer;
	v_day_start timestamptz := date_trunc('day', p_now AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
	v_reserved bigint;
	v_charged integer;
	v_shortfall integer;
	v_member_tokens integer;
	v_left integer;
	v_take integer;
	v_description text;
	v_metadata jsonb;
	v_transaction_id bigint;
	v_transaction_ids bigint[] := '{}';
	v_touched_ids uuid[] := '{}';
	v_result jsonb;
BEGIN
	IF p_hold_id IS NULL OR p_key IS NULL OR p_now IS NULL OR p_cost IS NULL OR p_cost < 0
		OR p_membership_tokens IS NULL OR p_membership_tokens < 0 THEN
		RAISE EXCEPTION 'credit_settle needs a hold id, a key, a time, a cost >= 0 and membership tokens >= 0'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	-- settle() knows only the hold id; its owner never changes, so reading it before the lock is
	-- safe. The sweeper passes the owner whose lock it already holds.
	IF v_user_id IS NULL THEN
		SELECT user_id INTO v_user_id FROM credit_hold WHERE id = p_hold_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'hold_not_found' USING ERRCODE = 'CL001';
		END IF;
	END IF;

	-- The account row first, as every ledger operation does. reserve() created it with the hold,
	-- so a missing row means the hold is not this user's.
	PERFORM 1 FROM credit_account WHERE user_id = v_user_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'hold_not_found' USING ERRCODE = 'CL001';
	END IF;

	-- Under the account lock, so that a concurrent settle under the same key has either committed
	-- its result (we replay it) or not started.
	SELECT * INTO v_previous FROM credit_operation WHERE key = p_key;
	IF FOUND THEN
		IF v_previous.user_id <> v_user_id
			OR v_previous.operation <> 'settle'
			OR v_previous.fingerprint <> v_fingerprint THEN
			RAISE EXCEPTION 'idempotency_conflict' USING ERRCODE = 'CL003';
		END IF;
		RETURN v_previous.result || '{"replayed": true}';
	END IF;

	SELECT * INTO v_hold FROM credit_hold
	WHERE id = p_hold_id AND user_id = v_user_id
	FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'hold_not_found' USING ERRCODE = 'CL001';
	END IF;
	IF v_hold.status <> 'pending' THEN
		RAISE EXCEPTION 'hold_already_resolved' USING ERRCODE = 'CL002', DETAIL = v_hold.status;
	END IF;

	-- The packages that count at p_now (not expired, credits left), locked in spend order; the
	-- balance is their sum, as balanceAt() in ledger.ts computes it. Each one's room now (issue
	-- 13): 0 when frozen, else its credits, within what its daily limit leaves today.
	FOR v_package IN
		SELECT id, remaining_credits, daily_limit, frozen_at FROM credit_package
		WHERE user_id = v_user_id
			AND remaining_credits > 0
			AND (expires_at IS NULL OR expires_at > p_now)
		ORDER BY expires_at ASC NULLS LAST, created_at ASC, id ASC
		FOR UPDATE
	LOOP
		IF v_package.frozen_at IS NOT NULL THEN
			v_room := 0;
		ELSIF v_package.daily_limit IS NULL THEN
			v_room := v_package.remaining_credits;
		ELSE
			SELECT greatest(0, least(v_package.remaining_credits,
				v_package.daily_limit - coalesce(sum(-amount), 0)))
			INTO v_room
			FROM credit_transaction
			WHERE package_id = v_package.id AND type = 'usage'
				AND created_at >= v_day_start AND created_at < v_day_start + interval '1 day';
		END IF;
		v_package_ids := v_package_ids || v_package.id;
		v_package_rooms := v_package_rooms || v_room;
		v_balance := v_balance + v_package.remaining_credits;
		v_spendable := v_spendable + v_room;
	END LOOP;

	-- Beyond its own hold, a settlement may take only what other pending holds have not set
	-- aside of what is spendable now; what it cannot charge is the shortfall, recorded on the
	-- usage rows.
	SELECT coalesce(sum(amount), 0) INTO v_reserved FROM credit_hold
	WHERE user_id = v_user_id AND status = 'pending';
	v_charged := greatest(0, least(p_cost, v_spendable - (v_reserved - v_hold.amount)));
	v_shortfall := p_cost - v_charged;
	-- A membership pays at most the tokens its hold set aside from today's allowance.
	v_member_tokens := least(p_membership_tokens, v_hold.membership_tokens);
	v_description := coalesce(p_description, v_hold.description);
	v_metadata := coalesce(p_metadata, '{}')
		|| jsonb_build_object('holdId', v_hold.id)
		|| CASE WHEN v_shortfall > 0 THEN jsonb_build_object('shortfall', v_shortfall) ELSE '{}' END;

	-- allocate(): take from each package in turn, within its room, until the charge is covered.
	v_left := v_charged;
	FOR i IN 1 .. coalesce(array_length(v_package_ids, 1), 0) LOOP
		EXIT WHEN v_left = 0;
		CONTINUE WHEN v_package_rooms[i] = 0;
		v_take := least(v_left, v_package_rooms[i]);
		UPDATE credit_package SET remaining_credits = remaining_credits - v_take
		WHERE id = v_package_ids[i] AND user_id = v_user_id AND remaining_credits >= v_take;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'package % changed under its lock', v_package_ids[i];
		END IF;
		v_balance := v_balance - v_take;
		v_left := v_left - v_take;
		INSERT INTO credit_transaction
			(user_id, package_id, type, amount, balance_after, description, metadata, idempotency_key,
			created_at)
		VALUES
			(v_user_id, v_package_ids[i], 'usage', -v_take, v_balance, v_description, v_metadata,
			p_key || '#' || (i - 1), p_now)
		RETURNING id INTO v_transaction_id;
		v_transaction_ids := v_transaction_ids || v_transaction_id;
		v_touched_ids := v_touched_ids || v_package_ids[i];
	END LOOP;
	IF v_left <> 0 THEN
		RAISE EXCEPTION 'a charge of % found only % credits', v_charged, v_charged - v_left;
	END IF;

	-- Issue 13: the membership's part, metered at 0 credits (the CHECK on credit_transaction
	-- allows amount 0 exactly for a usage row without a package).
	IF v_member_tokens > 0 THEN
		INSERT INTO credit_transaction
			(user_id, package_id, type, amount, balance_after, description, metadata, idempotency_key,
			created_at)
		VALUES
			(v_user_id, NULL, 'usage', 0, v_balance, v_description,
			v_metadata || jsonb_build_object('membershipTokens', v_member_tokens),
			p_key || '#membership', p_now);
	END IF;

	UPDATE credit_hold SET status = 'settled', charged_credits = v_charged, resolved_at = p_now
	WHERE id = v_hold.id AND user_id = v_user_id AND status = 'pending';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'hold % changed under its lock', v_hold.id;
	END IF;

	-- SettleResult in holds.ts.
	v_result := jsonb_build_object(
		'holdId', v_hold.id,
		'charged', v_charged,
		'shortfall', v_shortfall,
		'membershipTokens', v_member_tokens,
		'balanceAfter', v_balance,
		'transactionIds', to_jsonb(v_transaction_ids),
		'packageIds', to_jsonb(v_touched_ids)
	);
	INSERT INTO credit_operation (key, user_id, operation, fingerprint, result)
	VALUES (p_key, v_user_id, 'settle', v_fingerprint, v_result);
	RETURN v_result || '{"replayed": false}';
END;
$$;
