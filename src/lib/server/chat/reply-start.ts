import { sql } from 'drizzle-orm';
import { selectRows, type Db } from '../db/client';
import { creditHold, creditPackage } from '../db/schema';
import { countsAt, pendingHoldsOf } from '../credits/ledger';
import {
	reserveArguments,
	reserveRefusal,
	reserveResult,
	type ReserveInput,
	type ReserveResult
} from '../credits/holds';
import { pgErrorCode, pgErrorDetail } from '../credits/transaction';
import { AppError } from '../errors';
import {
	hitStatement,
	verdictOf,
	type HitRow,
	type Limit,
	type Verdict
} from '../security/rate-limit';
import type { ReplyVersion } from '../../types';
import {
	historyMessages,
	recentHistoryJson,
	textOfParts,
	type HistoryLimits,
	type HistoryMessage,
	type StoredHistory
} from './history';
import { activeRun, lostSql, RESOLVED_GRACE_MS, STALE_AFTER_MS } from './runs';
import { versionsAfter } from './versions';

/**
 * A reply waits for the database twice before it calls the model: `openReply` (what the request
 * may do and what the prompt needs) and `startReply` (everything it writes). Each is one round
 * trip, since every one of them is added to the user's time to the first token.
 */

export interface OpenedReply {
	/** The chat's rate limit, counted for this request. */
	verdict: Verdict;
	/** The chat, whoever owns it (another user's reads like a missing one), or null. */
	chat: { userId: string; title: string } | null;
	/** The stored role of the message the question replaces (regenerate, edit), if any. */
	questionRole: 'user' | 'assistant' | null;
	/** A reply is still being written in the chat, on any live instance. */
	busy: boolean;
	/** The stored conversation before the question that may fit the prompt, oldest first. */
	history: HistoryMessage[];
	/**
	 * The user's balance less what pending holds set aside: the most a reservation can take now
	 * (frozen and daily-limited credits may make it less). 0 when the hit was refused.
	 */
	freeCredits: number;
	/** The user's pending holds (replies running or not yet settled). 0 when the hit was refused. */
	pendingHolds: number;
}

/**
 * Counts the hit on the user's chat rate limit and reads the chat, the stored role of the
 * question's id, whether a reply runs there, the history before the question and the user's
 * free credits, in one statement. The chat's messages and the credits are read only for the
 * chat's owner (or a new chat), and only when the hit is allowed.
 */
export async function openReply(
	db: Db,
	input: {
		userId: string;
		chatId: string;
		questionId: string;
		rateKey: string;
		limit: Limit;
		history: Omit<HistoryLimits, 'beforeId'>;
	}
): Promise<OpenedReply> {
	const counted = input.limit.max > 0;
	const now = new Date();
	const mine = sql`c.user_id = ${input.userId}`;
	const allowed = counted ? sql`(select hits from hit) <= ${input.limit.max}` : sql`true`;
	const ownerAllowed = sql`(c.id is null or ${mine}) and ${allowed}`;
	const [row] = await selectRows<{
		hits: number | null;
		remaining: number | null;
		user_id: string | null;
		title: string | null;
		question_role: 'user' | 'assistant' | null;
		busy: boolean | null;
		history: StoredHistory | string | null;
		free_credits: string | number | null;
		pending_holds: number | null;
	}>(
		db,
		sql`${counted ? sql`with hit as (${hitStatement(input.rateKey, input.limit)})` : sql``}
			select ${counted ? sql`(select hits from hit)` : sql`null::int`} as hits,
				${counted ? sql`set_config('synchronous_commit', 'off', true)` : sql`null`} as async_commit,
				${counted ? sql`(select remaining from hit)` : sql`null::float8`} as remaining,
				c.user_id, c.title,
				case when ${mine} then (select m.role from chat_message m
					where m.chat_id = c.id and m.id = ${input.questionId}) end as question_role,
				case when ${mine} then exists (select 1 from chat_run r where r.chat_id = c.id
					and r.status = 'running' and not ${lostSql}) end as busy,
				case when ${mine} and ${allowed} then ${recentHistoryJson(sql`c.id`, {
					...input.history,
					beforeId: input.questionId
				})} end as history,
				case when ${ownerAllowed} then
					(select coalesce(sum(${creditPackage.remainingCredits}), 0) from ${creditPackage}
						where ${countsAt(input.userId, now)})
					- (select coalesce(sum(${creditHold.amount}), 0) from ${creditHold}
						where ${pendingHoldsOf(input.userId)}) end as free_credits,
				case when ${ownerAllowed} then (select count(*)::int from ${creditHold}
					where ${pendingHoldsOf(input.userId)}) end as pending_holds
			from (select 1) one left join chat c on c.id = ${input.chatId}`
	);
	const hit: HitRow | undefined =
		row.hits === null ? undefined : { hits: row.hits, remaining: Number(row.remaining) };
	return {
		verdict: verdictOf(hit, input.limit),
		chat: row.user_id === null ? null : { userId: row.user_id, title: row.title ?? '' },
		questionRole: row.question_role,
		busy: row.busy === true || activeRun(input.chatId) !== undefined,
		history: row.history === null ? [] : historyMessages(row.history),
		freeCredits: Math.max(0, Number(row.free_credits ?? 0)),
		pendingHolds: row.pending_holds ?? 0
	};
}

export interface StartedReply extends ReserveResult {
	/** The reply the question's new reply replaces, and its versions (see versions.ts). */
	replaced: ReplyVersion[];
}

/**
 * Reserves the reply's credits, creates the chat (on the first message), claims the run and
 * stores the question, in one call of `chat_start` (drizzle/0016_chat_start.sql): all of it or,
 * on a refusal, nothing. Refusals: the ledger's (insufficient_credits, too_many_holds, …), 402
 * when the hold cannot pay for the prompt and one token of output, 404 when the chat is
 * another user's, 409 while another reply runs there.
 */
export async function startReply(
	db: Db,
	input: {
		reserve: ReserveInput & { chatId: string };
		/** The prompt's estimated tokens. */
		inputTokens: number;
		/** The chat to create with the first message, or null when it exists. */
		create: { title: string; model: string } | null;
		replyId: string;
		question: { id: string; text: string };
	}
): Promise<StartedReply> {
	const r = reserveArguments(input.reserve);
	const parts = JSON.stringify([{ type: 'text', text: input.question.text }]);
	try {
		const [row] = await selectRows<{
			result: ReserveResult & { replayed: boolean; replaced: StoredReply | null };
		}>(
			db,
			sql`select chat_start(${r.userId}::text, ${r.upTo}::numeric, ${r.membershipTokens}::numeric,
				${r.membershipCap}::numeric, ${r.rateMilli}::numeric, ${r.key}::text,
				${r.fingerprint}::text, ${r.chatId}::text, ${r.description}::text,
				${r.maxPending}::double precision, ${r.now}::timestamptz, ${r.expiresAt}::text,
				${input.inputTokens}::numeric, ${input.create !== null}::boolean,
				${input.create?.title ?? null}::text, ${input.create?.model ?? null}::text,
				${input.replyId}::text, ${input.question.id}::text, ${parts}::jsonb,
				${STALE_AFTER_MS}::int, ${RESOLVED_GRACE_MS}::int) as result`
		);
		const result = typeof row.result === 'string' ? JSON.parse(row.result) : row.result;
		const { replaced, ...hold } = result as typeof row.result;
		return {
			...reserveResult(hold),
			replaced: replaced
				? versionsAfter({
						id: replaced.id,
						text: textOfParts(replaced.parts),
						metadata: replaced.metadata,
						createdAt: new Date(replaced.createdAt)
					})
				: []
		};
	} catch (error) {
		throw startRefusal(error) ?? reserveRefusal(error, input.reserve) ?? error;
	}
}

interface StoredReply {
	id: string;
	parts: unknown;
	metadata: unknown;
	createdAt: string;
}

export const replyInProgress = () =>
	new AppError(
		409,
		'reply_in_progress',
		'A reply is still being written in this chat. Wait for it to finish, or press Stop.'
	);

export const chatNotFound = () => new AppError(404, 'chat_not_found', 'This chat does not exist.');

/** The refusals chat_start raises itself (SQLSTATEs CL009-CL011), as the errors they answer. */
function startRefusal(error: unknown): AppError | undefined {
	switch (pgErrorCode(error)) {
		case 'CL009':
			return new AppError(
				402,
				'insufficient_credits',
				'Your credits cannot pay for a reply to this conversation. Start a new chat or buy credits.',
				{ balance: Number(pgErrorDetail(error)) }
			);
		case 'CL010':
			return chatNotFound();
		case 'CL011':
			return replyInProgress();
		default:
			return undefined;
	}
}
