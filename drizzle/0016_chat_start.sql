-- Custom migration (drizzle-kit generate --custom): chat_start(), everything a reply writes before
-- it calls the model, as one database call. The user waits for each round trip before the first
-- token; before this there were five in a row (the reservation, creating the chat, claiming the
-- run) and a transaction of six more for the question. It does, in one transaction, what
-- streamReply() in src/lib/server/chat/reply.ts describes, and either starts the reply
-- completely or changes nothing (a refusal raises, so a refused first message leaves no chat,
-- no question and no hold behind):
--   1. credit_reserve() with the arguments reserve() in src/lib/server/credits/holds.ts computes
--      (its refusals, CL003-CL008, pass through unchanged);
--   2. the hold must pay for the prompt and at least one token of output: the membership tokens
--      it set aside plus what its credits buy (tokensForCredits() in pricing.ts), less
--      p_input_tokens; otherwise CL009 reply_unpayable (DETAIL = the hold's credits);
--   3. the chat: created when p_create (ON CONFLICT DO NOTHING: a concurrent first message of the
--      same user may have created it), and it must belong to the user, otherwise CL010
--      chat_not_found (the same answer as a chat that does not exist);
--   4. the run claimed, as claimRun() did: a running reply that is not lost (chat_run_lost()
--      below) keeps the chat, otherwise CL011 reply_in_progress;
--   5. the question stored as the chat's latest message: messages after it are dropped first
--      (regenerate and edit), and the reply that directly followed it is returned as "replaced"
--      (its id, parts, metadata and createdAt) for versionsAfter() in versions.ts.
-- The account row is locked first (by credit_reserve), then chat and chat_run, the order every
-- other transaction that touches both keeps.
-- Returns credit_reserve's result (ReserveResult) with "replaced" (null when none).

-- A running reply whose process is gone: no heartbeat for p_stale_ms, or its hold already
-- resolved and no heartbeat for p_grace_ms. lostSql in src/lib/server/chat/runs.ts calls it.
CREATE OR REPLACE FUNCTION chat_run_lost(
	p_updated_at timestamptz,
	p_hold_id uuid,
	p_stale_ms integer,
	p_grace_ms integer
) RETURNS boolean
LANGUAGE sql
STABLE
AS $$
	SELECT p_updated_at < now() - p_stale_ms * interval '1 millisecond'
		OR (p_updated_at < now() - p_grace_ms * interval '1 millisecond'
			AND NOT EXISTS (SELECT 1 FROM credit_hold h WHERE h.id = p_hold_id AND h.status = 'pending'))
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION chat_start(
	-- credit_reserve()'s arguments.
	p_user_id text,
	p_up_to numeric,
	p_membership_tokens numeric,
	p_membership_cap numeric,
	p_rate_milli numeric,
	p_key text,
	p_fingerprint text,
	p_chat_id text,
	p_description text,
	p_max_pending double precision,
	p_now timestamptz,
	p_expires_at text,
	-- The prompt's estimated tokens, which the hold must pay for with room for output.
	p_input_tokens numeric,
	-- True for a chat the user's first message creates, with this title and model.
	p_create boolean,
	p_title text,
	p_model text,
	p_reply_id text,
	p_question_id text,
	p_question_parts jsonb,
	-- STALE_AFTER_MS and RESOLVED_GRACE_MS of runs.ts.
	p_stale_ms integer,
	p_grace_ms integer
) RETURNS jsonb
LANGUAGE plpgsql
AS $$
DECLARE
	v_hold jsonb;
	v_hold_id uuid;
	v_amount numeric;
	v_owner text;
	v_asked_at timestamptz;
	v_replaced jsonb;
BEGIN
	v_hold := credit_reserve(p_user_id, p_up_to, p_membership_tokens, p_membership_cap,
		p_rate_milli, p_key, p_fingerprint, p_chat_id, p_description, p_max_pending, p_now,
		p_expires_at);
	v_hold_id := (v_hold->>'holdId')::uuid;
	v_amount := (v_hold->>'amount')::numeric;

	-- tokensForCredits(): floor(credits × 1,000,000 / rate thousandths); a free model pays for any.
	IF p_rate_milli > 0 AND (v_hold->>'membershipTokens')::numeric
			+ div(v_amount * 1000000, p_rate_milli) - p_input_tokens < 1 THEN
		RAISE EXCEPTION 'reply_unpayable' USING ERRCODE = 'CL009', DETAIL = v_amount::text;
	END IF;

	IF p_create THEN
		INSERT INTO chat (id, user_id, title, model)
		VALUES (p_chat_id, p_user_id, p_title, p_model)
		ON CONFLICT (id) DO NOTHING;
	END IF;
	SELECT user_id INTO v_owner FROM chat WHERE id = p_chat_id FOR SHARE;
	IF v_owner IS DISTINCT FROM p_user_id THEN
		RAISE EXCEPTION 'chat_not_found' USING ERRCODE = 'CL010';
	END IF;

	INSERT INTO chat_run AS r (chat_id, user_id, reply_id, hold_id)
	VALUES (p_chat_id, p_user_id, p_reply_id, v_hold_id)
	ON CONFLICT (chat_id) DO UPDATE SET
		user_id = excluded.user_id, reply_id = excluded.reply_id, hold_id = excluded.hold_id,
		status = 'running', stop_requested = false, partial = '',
		started_at = now(), updated_at = now()
	WHERE r.status <> 'running' OR chat_run_lost(r.updated_at, r.hold_id, p_stale_ms, p_grace_ms);
	IF NOT FOUND THEN
		RAISE EXCEPTION 'reply_in_progress' USING ERRCODE = 'CL011';
	END IF;

	SELECT created_at INTO v_asked_at
	FROM chat_message WHERE chat_id = p_chat_id AND id = p_question_id;
	IF v_asked_at IS NOT NULL THEN
		SELECT jsonb_build_object('id', id, 'parts', parts, 'metadata', metadata,
			'createdAt', created_at) INTO v_replaced
		FROM chat_message
		WHERE chat_id = p_chat_id AND role = 'assistant' AND created_at > v_asked_at
		ORDER BY created_at, id
		LIMIT 1;
		DELETE FROM chat_message WHERE chat_id = p_chat_id AND created_at > v_asked_at;
	END IF;
	INSERT INTO chat_message (chat_id, id, user_id, role, parts, metadata)
	VALUES (p_chat_id, p_question_id, p_user_id, 'user', p_question_parts, '{}')
	ON CONFLICT (chat_id, id) DO UPDATE SET parts = excluded.parts, metadata = excluded.metadata;
	UPDATE chat SET updated_at = now() WHERE id = p_chat_id;

	RETURN v_hold || jsonb_build_object('replaced', v_replaced);
END;
$$;
