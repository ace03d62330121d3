-- Custom migration (drizzle-kit generate --custom): credit_reserve(), reserve() of
-- src/lib/server/credits/holds.ts as one database call, as credit_settle() (0004, 0014) is for
-- settle(). A reply reserves before it calls the model, so every round trip here is latency the
-- user waits for: as one call a reservation costs one round trip instead of about ten (BEGIN,
-- the account lock, the key lookup, the pending count, packages, today's usage per limited
-- package, pending holds, the membership, its tokens today, the insert, the stored result, COMMIT).
-- It must keep doing exactly what the TypeScript ledger does, so change both together:
--   * one transaction (the calling statement's), locking the user's credit_account row first and
--     creating it when missing, as withAccountLock() in src/lib/server/credits/transaction.ts
--     (a user that does not exist is user_not_found);
--   * idempotency as once() in idempotency.ts, under that lock: a key already used with the same
--     arguments returns the stored result with "replayed": true, with other arguments (or by
--     another user or operation) it is a conflict. The fingerprint, canonicalJson() of the
--     arguments, is computed by reserve() and passed in, so both sides always agree on it;
--   * p_max_pending: refused with too_many_holds when the user has that many pending holds;
--   * available = what is spendable now (not frozen, within today's daily limits: roomOf() and
--     packagesWithRoom() in daily-limit.ts, as in credit_settle) less the credits pending holds
--     set aside, never below 0 (availableAt() in ledger.ts). A reservation charges nothing, so
--     it neither locks nor picks packages: settlement does, in spend order;
--   * a membership (issue 13): while the user has an active membership subscription, min(tokens,
--     what is left of today's cap) is set aside as membership_tokens, where used = tokens the
--     membership paid for since midnight UTC (usage rows without a package) plus those pending
--     holds set aside (membershipTokensToday() in membership.ts); credits are wanted only for the
--     rest, creditsForTokens() of pricing.ts with the rate in thousandths given by the caller;
--   * the hold takes min(wanted, available) credits and is refused with insufficient_credits when
--     that is below one credit and no membership tokens were set aside;
--   * no ledger row (a hold is not a change of any package), and no counter anywhere: the
--     reserved credits are always the sum over pending holds.
-- Refusals are raised with SQLSTATEs of the class of credit_settle, which reserve() in holds.ts
-- maps back to the same errors as before: CL003 idempotency_conflict, CL004 user_not_found, CL005
-- too_many_holds (DETAIL = pending holds), CL006 insufficient_credits (DETAIL = JSON {balance,
-- available}), CL007 the RangeError of a non-finite rate, CL008 the RangeError of an invalid time.
-- Arguments that TypeScript hands over as numbers of any size are numeric, so that nothing
-- overflows here that did not overflow there; the insert casts as drizzle's insert did.
--
-- Citus: every statement filters on user_id, so the call can run on the user's shard after
--   SELECT create_distributed_function(
--     'credit_reserve(text, numeric, numeric, numeric, numeric, text, text, text, text, double precision, timestamptz, text)',
--     'p_user_id', colocate_with := 'credit_package');
-- except the credit_operation lookup by key, as in idempotency.ts and credit_settle.
CREATE OR REPLACE FUNCTION credit_reserve(
	p_user_id text,
	p_up_to numeric,
	-- NULL without a membership; p_rate_milli is NULL when the rate is not finite.
	p_membership_tokens numeric,
	p_membership_cap numeric,
	p_rate_milli numeric,
	p_key text,
	p_fingerprint text,
	p_chat_id text,
	p_description text,
	-- NULL for no limit; a JS number, compared as JS compares it.
	p_max_pending double precision,
	-- NULL when the caller's time is invalid (raised where TypeScript would first have used it).
	p_now timestamptz,
	-- now + ttl as Date.toISOString() writes it, returned as given; NULL when invalid.
	p_expires_at text
) RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
	v_previous credit_operation%ROWTYPE;
	v_pending bigint;
	v_package record;
	v_room integer;
	-- bigint: a sum over packages may pass the integer range even when each package does not.
	v_balance bigint := 0;
	v_spendable bigint := 0;
	v_reserved bigint;
	v_available bigint;
	v_day_start timestamptz;
	v_used numeric;
	v_member_tokens numeric := 0;
	v_wanted numeric := p_up_to;
	v_amount numeric;
	v_hold_id uuid;
	v_result jsonb;
BEGIN
	IF p_user_id IS NULL OR p_up_to IS NULL OR p_key IS NULL OR p_fingerprint IS NULL
		OR p_description IS NULL THEN
		RAISE EXCEPTION 'credit_reserve needs a user, an amount, a key, a fingerprint and a description'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	-- The account row first, as every ledger operation does; created on a user's first operation.
	PERFORM 1 FROM credit_account WHERE user_id = p_user_id FOR UPDATE;
	IF NOT FOUND THEN
		BEGIN
			INSERT INTO credit_account (user_id) VALUES (p_user_id) ON CONFLICT DO NOTHING;
		EXCEPTION WHEN foreign_key_violation THEN
			RAISE EXCEPTION 'user_not_found' USING ERRCODE = 'CL004';
		END;
		PERFORM 1 FROM credit_account WHERE user_id = p_user_id FOR UPDATE;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'could not lock the account of %', p_user_id;
		END IF;
	END IF;

	-- Under the account lock, so that a concurrent reserve under the same key has either committed
	-- its result (we replay it) or not started.
	SELECT * INTO v_previous FROM credit_operation WHERE key = p_key;
	IF FOUND THEN
		IF v_previous.user_id <> p_user_id
			OR v_previous.operation <> 'reserve'
			OR v_previous.fingerprint <> p_fingerprint THEN
			RAISE EXCEPTION 'idempotency_conflict' USING ERRCODE = 'CL003';
		END IF;
		RETURN v_previous.result || '{"replayed": true}';
	END IF;

	IF p_max_pending IS NOT NULL THEN
		SELECT count(*) INTO v_pending FROM credit_hold
		WHERE user_id = p_user_id AND status = 'pending';
		IF v_pending >= p_max_pending THEN
			RAISE EXCEPTION 'too_many_holds' USING ERRCODE = 'CL005', DETAIL = v_pending::text;
		END IF;
	END IF;

	IF p_now IS NULL THEN
		RAISE EXCEPTION 'Invalid time value' USING ERRCODE = 'CL008';
	END IF;
	v_day_start := date_trunc('day', p_now AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';

	-- The packages that count at p_now (not expired, credits left), each with its room now: 0
	-- when frozen, else its credits, within what its daily limit leaves today. Not locked: a
	-- reservation takes nothing from them.
	FOR v_package IN
		SELECT id, remaining_credits, daily_limit, frozen_at FROM credit_package
		WHERE user_id = p_user_id
			AND remaining_credits > 0
			AND (expires_at IS NULL OR expires_at > p_now)
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
		v_balance := v_balance + v_package.remaining_credits;
		v_spendable := v_spendable + v_room;
	END LOOP;
	SELECT coalesce(sum(amount), 0) INTO v_reserved FROM credit_hold
	WHERE user_id = p_user_id AND status = 'pending';
	v_available := greatest(0, v_spendable - v_reserved);

	IF p_membership_tokens IS NOT NULL AND EXISTS (
		SELECT 1 FROM billing_subscription
		WHERE user_id = p_user_id
			AND membership
			AND status IN ('active', 'trialing')
			AND ended_at IS NULL
			AND (current_period_end IS NULL OR current_period_end > p_now)
	) THEN
		SELECT coalesce(sum((metadata->>'membershipTokens')::bigint), 0) INTO v_used
		FROM credit_transaction
		WHERE user_id = p_user_id AND type = 'usage' AND package_id IS NULL
			AND created_at >= v_day_start;
		v_used := v_used + (SELECT coalesce(sum(membership_tokens), 0) FROM credit_hold
			WHERE user_id = p_user_id AND status = 'pending');
		v_member_tokens := least(p_membership_tokens, greatest(0, p_membership_cap - v_used));
		IF p_rate_milli IS NULL THEN
			RAISE EXCEPTION 'bad rate' USING ERRCODE = 'CL007';
		END IF;
		-- creditsForTokens(): ceil(tokens × rate thousandths / 1,000,000), in exact integers.
		v_wanted := least(p_up_to,
			div((p_membership_tokens - v_member_tokens) * p_rate_milli + 999999, 1000000));
	END IF;

	v_amount := least(v_wanted, v_available);
	IF v_member_tokens = 0 AND v_amount < 1 THEN
		RAISE EXCEPTION 'insufficient_credits' USING ERRCODE = 'CL006',
			DETAIL = json_build_object('balance', v_balance, 'available', v_available)::text;
	END IF;

	IF p_expires_at IS NULL THEN
		RAISE EXCEPTION 'Invalid time value' USING ERRCODE = 'CL008';
	END IF;
	INSERT INTO credit_hold
		(user_id, amount, membership_tokens, chat_id, description, idempotency_key, expires_at,
		created_at)
	VALUES
		(p_user_id, v_amount, v_member_tokens, p_chat_id, p_description, p_key,
		p_expires_at::timestamptz, p_now)
	RETURNING id INTO v_hold_id;

	-- ReserveResult in holds.ts.
	v_result := jsonb_build_object(
		'holdId', v_hold_id,
		'amount', v_amount::integer,
		'membershipTokens', v_member_tokens::integer,
		'expiresAt', p_expires_at
	);
	INSERT INTO credit_operation (key, user_id, operation, fingerprint, result)
	VALUES (p_key, p_user_id, 'reserve', p_fingerprint, v_result);
	RETURN v_result || '{"replayed": false}';
END;
$$;
