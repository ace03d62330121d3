import type { UIMessageChunk } from 'ai';
import { sql, type SQL } from 'drizzle-orm';
import { selectRows, type Db } from '../db/client';
import { log } from '../log';
import { DONE_EVENT, sseEvent } from './ui-stream';

/**
 * A reply belongs to the server, not to the request that asked for it. A run is written by the
 * reply itself and hands every chunk to any number of subscribers: the POST that
 * started it is only the first one; GET /api/chat/{id}/stream on the same instance joins later
 * and first gets what was already written. Progress (the partial text, a heartbeat and the
 * stop request) lives in PostgreSQL (`chat_run`), so other instances can follow and stop it.
 */

/** How often the running reply writes its partial text and reads the stop request back. */
export const PROGRESS_INTERVAL_MS = 500;
/** How often a follower on another instance reads the stored progress. */
export const FOLLOW_INTERVAL_MS = 300;
/** A running row whose heartbeat has not moved for this long lost its process. */
export const STALE_AFTER_MS = 15_000;
/** A running row whose hold is already resolved is finished once it stops moving this long. */
export const RESOLVED_GRACE_MS = 2_000;

export interface Run {
	chatId: string;
	userId: string;
	replyId: string;
	/** Aborts the model call (Stop). */
	stop: AbortController;
	/** What was sent so far, consecutive text deltas merged: a late subscriber's replay. */
	buffer: UIMessageChunk[];
	/** Listeners, each fed the SSE events (encoded once per chunk for all of them). */
	subscribers: Set<ReadableStreamDefaultController<Uint8Array>>;
	ended: boolean;
}

const runs = new Map<string, Run>();

/** The reply running in this process for this chat, if any. */
export function activeRun(chatId: string): Run | undefined {
	return runs.get(chatId);
}

/** Replies running in this process (for tests and health). */
export function runningCount(): number {
	return runs.size;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * For a graceful shutdown: lets the replies running in this process finish (at most `graceMs`),
 * then stops the rest — each is billed for what it produced and saved, as if Stop was pressed —
 * and waits up to `settleMs` for them to settle. Only then may the database close.
 */
export async function drainRuns(graceMs: number, settleMs = 5_000): Promise<void> {
	const finishBy = Date.now() + graceMs;
	while (runs.size > 0 && Date.now() < finishBy) await pause(50);
	if (runs.size === 0) return;
	log.warn({ running: runs.size }, '[chat] shutting down: stopping the replies still running');
	for (const run of runs.values()) run.stop.abort();
	const settleBy = Date.now() + settleMs;
	while (runs.size > 0 && Date.now() < settleBy) await pause(50);
}

/**
 * Registers the chat's reply as running in this process. Its writer (reply.ts) sends chunks
 * with `emit` whoever listens, and `closeRun` when it is settled; subscribers are then closed.
 */
export function startRun(input: {
	chatId: string;
	userId: string;
	replyId: string;
	stop: AbortController;
}): Run {
	const run: Run = { ...input, buffer: [], subscribers: new Set(), ended: false };
	runs.set(run.chatId, run);
	return run;
}

/** Sends a chunk to every listener and keeps it for later ones. */
export function emit(run: Run, chunk: UIMessageChunk): void {
	if (run.ended) return;
	remember(run.buffer, chunk);
	if (run.subscribers.size === 0) return;
	const event = sseEvent(chunk);
	for (const subscriber of run.subscribers) {
		try {
			subscriber.enqueue(event);
		} catch {
			// Closed or cancelled meanwhile: it is gone.
			run.subscribers.delete(subscriber);
		}
	}
}

/** Ends the run: it leaves the registry and every listener gets the end of the stream. */
export function closeRun(run: Run): void {
	if (run.ended) return;
	run.ended = true;
	if (runs.get(run.chatId) === run) runs.delete(run.chatId);
	for (const subscriber of run.subscribers) {
		try {
			subscriber.enqueue(DONE_EVENT);
			subscriber.close();
		} catch {
			// Already gone.
		}
	}
	run.subscribers.clear();
}

/** Appends a chunk to the replay, merging it into the previous text delta of the same part. */
function remember(buffer: UIMessageChunk[], chunk: UIMessageChunk) {
	const last = buffer.at(-1);
	if (chunk.type === 'text-delta' && last?.type === 'text-delta' && last.id === chunk.id) {
		buffer[buffer.length - 1] = { ...last, delta: last.delta + chunk.delta };
	} else {
		buffer.push(chunk);
	}
}

/**
 * The run's reply for one listener, as SSE events: everything written so far (text deltas
 * merged), then live to the end. A listener that goes away (closed tab) is dropped; the run goes on.
 */
export function subscribe(run: Run): ReadableStream<Uint8Array> {
	let self: ReadableStreamDefaultController<Uint8Array> | undefined;
	return new ReadableStream<Uint8Array>({
		start(controller) {
			self = controller;
			for (const chunk of run.buffer) controller.enqueue(sseEvent(chunk));
			if (run.ended) {
				controller.enqueue(DONE_EVENT);
				controller.close();
			} else {
				run.subscribers.add(controller);
			}
		},
		cancel() {
			if (self) run.subscribers.delete(self);
		}
	});
}

// ---------------------------------------------------------------------------------------------
// The shared progress in PostgreSQL.

export interface StoredRun {
	chatId: string;
	replyId: string;
	status: 'running' | 'done';
	partial: string;
	/** Running, but its process is gone or its hold already resolved: treat as finished. */
	lost: boolean;
}

/** True for a running row (aliased `r`) whose process is gone (chat_run_lost(), migration 0016). */
export const lostSql = sql`chat_run_lost(r.updated_at, r.hold_id, ${STALE_AFTER_MS}::int, ${RESOLVED_GRACE_MS}::int)`;

/** The chat's latest run as stored, or null when it never had one. */
export async function storedRun(db: Db, chatId: string): Promise<StoredRun | null> {
	const [row] = await selectRows<{
		chat_id: string;
		reply_id: string;
		status: 'running' | 'done';
		partial: string;
		lost: boolean;
	}>(
		db,
		sql`select r.chat_id, r.reply_id, r.status, r.partial, ${lostSql} as lost
			from chat_run r where r.chat_id = ${chatId}`
	);
	if (!row) return null;
	return {
		chatId: row.chat_id,
		replyId: row.reply_id,
		status: row.status,
		partial: row.partial,
		lost: row.status === 'running' && Boolean(row.lost)
	};
}

/**
 * The running reply's heartbeat: stores its text so far (when given) and what its hold owes so far
 * (when given: owedUpdate() of credits/holds.ts, in the same statement), and answers whether it
 * should stop: Stop was requested meanwhile (from whichever instance), or its row is gone (the
 * chat was deleted) or belongs to another reply now (this one was given up for lost).
 */
export async function writeProgress(
	db: Db,
	run: { chatId: string; replyId: string },
	partial: string | null,
	owed: SQL | null = null
): Promise<boolean> {
	const text = partial === null ? sql`` : sql`, partial = ${partial}`;
	const rows = await selectRows<{ stop_requested: boolean }>(
		db,
		sql`${owed ? sql`with owed as (${owed}) ` : sql``}update chat_run set updated_at = now()${text}
			where chat_id = ${run.chatId} and reply_id = ${run.replyId}
			returning stop_requested`
	);
	return rows.length === 0 || rows[0].stop_requested === true;
}

/** A message finishRun() stores: the reply, or the one it would have replaced. */
export interface FinalMessage {
	id: string;
	userId: string;
	text: string;
	metadata: Record<string, unknown>;
	/**
	 * Ledger rows (usage) whose packages become the metadata's `receipt.packages`, as
	 * { id, name, credits } in row order; absent: the metadata is stored as given.
	 */
	packagesOf?: number[];
}

/**
 * Ends the run, in one statement: stores its final message when given (the chat's latest
 * assistant message; one with the same id is replaced), touches the chat and marks the run
 * finished with its final text. Called once the reply is settled.
 */
export async function finishRun(
	db: Db,
	run: { chatId: string; replyId: string },
	text: string,
	message: FinalMessage | null
): Promise<void> {
	const done = sql`update chat_run set status = 'done', partial = ${text}, updated_at = now()
		where chat_id = ${run.chatId} and reply_id = ${run.replyId}`;
	if (!message) {
		await db.execute(done);
		return;
	}
	const parts = JSON.stringify([{ type: 'text', text: message.text }]);
	const metadata = message.packagesOf
		? sql`jsonb_set(${JSON.stringify(message.metadata)}::jsonb, '{receipt,packages}', (
				select coalesce(jsonb_agg(jsonb_build_object('id', p.id, 'name', p.name,
					'credits', -t.amount) order by t.id), '[]'::jsonb)
				from credit_transaction t join credit_package p on p.id = t.package_id
				where t.id = any(${`{${message.packagesOf.join(',')}}`}::bigint[])))`
		: sql`${JSON.stringify(message.metadata)}::jsonb`;
	await db.execute(sql`
		with stored as (
			insert into chat_message (chat_id, id, user_id, role, parts, metadata)
			values (${run.chatId}, ${message.id}, ${message.userId}, 'assistant', ${parts}::jsonb,
				${metadata})
			on conflict (chat_id, id) do update set parts = excluded.parts, metadata = excluded.metadata
			returning chat_id
		), touched as (
			update chat set updated_at = now() where id in (select chat_id from stored)
		)
		${done}`);
}

/**
 * Asks the chat's running reply to stop: at once when it runs in this process, otherwise through
 * the stored flag its instance reads within a second. False when no reply is running.
 */
export async function requestStop(db: Db, chatId: string): Promise<boolean> {
	const local = activeRun(chatId);
	local?.stop.abort('stopped');
	const rows = await selectRows<{ chat_id: string }>(
		db,
		sql`update chat_run set stop_requested = true
			where chat_id = ${chatId} and status = 'running'
			returning chat_id`
	);
	return local !== undefined || rows.length === 1;
}

/**
 * Follows a reply running on another instance through its stored progress: the text so far at
 * once, then what was added every FOLLOW_INTERVAL_MS, until it is done (or its process is lost).
 */
export function followStored(db: Db, first: StoredRun): ReadableStream<UIMessageChunk> {
	const textId = `${first.replyId}-text`;
	let sent = 0;
	let timer: ReturnType<typeof setTimeout> | undefined;
	let cancelled = false;
	const deltaOf = (partial: string): UIMessageChunk | null => {
		if (partial.length <= sent) return null;
		const delta = partial.slice(sent);
		sent = partial.length;
		return { type: 'text-delta', id: textId, delta };
	};
	return new ReadableStream<UIMessageChunk>({
		start(controller) {
			controller.enqueue({ type: 'start', messageId: first.replyId });
			controller.enqueue({ type: 'text-start', id: textId });
			const finish = () => {
				controller.enqueue({ type: 'text-end', id: textId });
				controller.enqueue({ type: 'finish' });
				controller.close();
			};
			const step = (run: StoredRun | null) => {
				if (cancelled) return;
				const same = run !== null && run.replyId === first.replyId;
				const delta = same ? deltaOf(run.partial) : null;
				if (delta) controller.enqueue(delta);
				if (!run || run.replyId !== first.replyId || run.status === 'done' || run.lost) {
					return finish();
				}
				timer = setTimeout(() => {
					storedRun(db, first.chatId).then(step, (error) => {
						if (cancelled) return;
						log.error({ err: error, chatId: first.chatId }, '[chat] following the reply failed');
						finish();
					});
				}, FOLLOW_INTERVAL_MS);
			};
			step(first);
		},
		cancel() {
			cancelled = true;
			clearTimeout(timer);
		}
	});
}
