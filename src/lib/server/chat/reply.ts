import { generateId, type FinishReason } from 'ai';
import type { ChatConfig } from '../config';
import { creditsForTokens, settle, tokensForCredits, voidHold } from '../credits';
import { owedUpdate } from '../credits/holds';
import { checkLowBalance } from '../credits/low-balance';
import { log } from '../log';
import { recordReplySettled } from '../metrics/record';
import { retryWhileUnavailable } from '../db/availability';
import type { Db } from '../db/client';
import type { ReplyReceipt } from '../../types';
import type { ReplyEstimate } from '../../reply-estimate';
import { AppError } from '../errors';
import { recentHistory, titleFrom, type HistoryLimits, type HistoryMessage } from './history';
import type { ModelRegistry } from './models';
import { promptOf, startHeldModelCall, streamModel } from './model-stream';
import { chatNotFound, openReply, replyInProgress, startReply } from './reply-start';
import {
	closeRun,
	emit,
	finishRun,
	PROGRESS_INTERVAL_MS,
	startRun,
	subscribe,
	writeProgress,
	type FinalMessage
} from './runs';
import {
	countTokensSliced,
	CUT_MARGIN,
	MAX_CHARS_PER_TOKEN,
	PER_MESSAGE_OVERHEAD,
	PROMPT_OVERHEAD
} from './tokens';
import { uiStreamResponse } from './ui-stream';

export interface ReplyRequest {
	userId: string;
	chatId: string;
	modelId: string;
	/**
	 * The user's new message. Everything before it comes from the database; an id that is already
	 * stored (regenerate, edit) replaces that question and drops what followed it.
	 */
	question: { id: string; text: string };
}

export interface ReplyDeps {
	db: Db;
	config: ChatConfig;
	models: ModelRegistry;
}

// How often the tokens streamed so far are counted for the hold, for the sweeper's sake; the
// next heartbeat writes the figure.
const OWED_INTERVAL_MS = 1_000;

/**
 * Replies of this process waiting for their reservation, and how many of them may call the model
 * early (see below). In a burst the CPU is the bottleneck: early calls then only put the
 * provider's first chunks ahead of the other replies' reservations, and the burst's first tokens
 * come later, not sooner (bench:chat, 50 at once).
 */
let reserving = 0;
const EARLY_CALLS_UP_TO = 4;

/** How long settling a finished reply is retried while the database is unreachable. */
const SETTLE_RETRY = { timeoutMs: 30_000 };

/**
 * Starts a metered reply and streams it. Credits for the worst case are reserved before the
 * model is called (less what an active membership's fair-use allowance covers) and the output is
 * capped to what the hold can pay for. The reply runs on the server (see runs.ts): the response
 * is only its first listener, so a closed tab does not stop it; Stop (POST /api/chat/{id}/stop)
 * does. When it ends — finished, stopped or failed — the real cost is settled exactly once (or
 * the hold voided if the upstream failed before producing anything); tokens the membership paid
 * for are written as a zero-credit usage row.
 */
export async function streamReply(deps: ReplyDeps, request: ReplyRequest): Promise<Response> {
	const { db, config, models } = deps;
	const model = models.find(request.modelId);
	if (!model) {
		throw new AppError(400, 'unknown_model', `Unknown model "${request.modelId}".`, {
			models: models.models.map((m) => m.id)
		});
	}
	const { question } = request;
	if (!question.text.trim()) {
		throw new AppError(400, 'invalid_request', 'Your message is empty.');
	}
	if (question.text.length > config.maxInputChars) {
		throw new AppError(
			413,
			'message_too_long',
			`Messages are limited to ${config.maxInputChars.toLocaleString('en')} characters; this one has ${question.text.length.toLocaleString('en')}.`
		);
	}
	// One statement counts the hit (before any other work for this request, so a flood costs one
	// statement per request) and reads the chat, its running reply and the history to send.
	const opened = await openReply(db, {
		userId: request.userId,
		chatId: request.chatId,
		questionId: question.id,
		rateKey: `chat:user:${request.userId}`,
		limit: { max: config.ratePerMinute, windowSeconds: 60 },
		history: historyLimits(config)
	});
	if (!opened.verdict.allowed) {
		throw new AppError(
			429,
			'rate_limited',
			`You are sending messages too quickly. Try again in ${opened.verdict.retryAfterSeconds} s.`,
			{ retryAfterSeconds: opened.verdict.retryAfterSeconds }
		);
	}
	// Another user's chat id reads like a missing chat; the chat itself is only created with the
	// hold (startReply below), so a refused first message leaves nothing behind.
	const existing = opened.chat;
	if (existing && existing.userId !== request.userId) throw chatNotFound();
	if (opened.questionRole === 'assistant') {
		// Storing it would turn a reply into words the user chose for the assistant.
		throw new AppError(400, 'invalid_request', 'A reply cannot be replaced by a question.');
	}
	// One reply at a time per chat (checked again, atomically, when the run is claimed below).
	if (opened.busy) throw replyInProgress();

	const { messages: history, tokens: inputEstimate } = await trimHistory(
		[...opened.history, { id: question.id, role: 'user', text: question.text }],
		config.historyTokens
	);
	const worstTokens = inputEstimate + config.maxOutputTokens;
	const upTo = creditsForTokens(worstTokens, model.rate);
	const chat = { id: request.chatId, title: existing?.title ?? titleFrom(question.text) };
	const replyId = generateId();
	// Only Stop aborts the model call: through the in-process run at once, or through the stored
	// stop request, read back with every progress write.
	const stop = new AbortController();
	const call = {
		prompt: promptOf(history),
		maxOutputTokens: config.maxOutputTokens,
		abortSignal: stop.signal
	};
	// When the reservation below is expected to succeed (the user's free credits pay for the
	// worst case, and fewer replies than the limit are pending), the model is called now, so that
	// its time to the first token runs alongside the reservation. Its output is held back and
	// shown only if the reservation succeeds and pays for the full output cap; otherwise the call
	// is cancelled (at most a prompt the provider read for nothing, in a race with another
	// request of the same user) and, when the hold pays for less, made again with the smaller cap.
	const expected = opened.freeCredits >= upTo && opened.pendingHolds < config.maxConcurrent;
	let held =
		expected && reserving < EARLY_CALLS_UP_TO
			? startHeldModelCall(models.languageModel(model.id), call)
			: null;
	reserving++;
	// One call reserves the credits for the worst case, creates the chat, claims the run and
	// stores the question (a regenerated or edited one drops what followed it, and the reply it
	// replaces is kept as a version of the new one). A member's reply is paid from today's
	// fair-use allowance first: the reservation reads the membership and what is left of the
	// allowance under the account lock, sets aside up to the worst case of it and wants credits
	// only for the rest (none: a member with no credits chats).
	const hold = await startReply(db, {
		reserve: {
			userId: request.userId,
			upTo,
			membership: { tokens: worstTokens, cap: config.membershipDailyTokens, rate: model.rate },
			key: `reply:${generateId()}`,
			chatId: chat.id,
			description: 'Reply in progress',
			maxPending: config.maxConcurrent,
			ttlMs: config.holdTtlSeconds * 1000
		},
		inputTokens: inputEstimate,
		create: existing ? null : { title: chat.title, model: model.id },
		replyId,
		question
	})
		.catch((error) => {
			held?.cancel('refused');
			throw error;
		})
		.finally(() => reserving--);
	// At least 1: startReply refuses a hold that cannot pay for the prompt and one token more.
	const maxOutputTokens = Math.min(
		config.maxOutputTokens,
		hold.membershipTokens + tokensForCredits(hold.amount, model.rate) - inputEstimate
	);
	if (held && maxOutputTokens < call.maxOutputTokens) {
		held.cancel('the hold pays for a smaller output cap');
		held = null;
	}
	/** Credits owed for `tokens`: those beyond the membership's set-aside allowance. */
	const creditsOwed = (tokens: number) =>
		creditsForTokens(Math.max(0, tokens - hold.membershipTokens), model.rate);
	// The reply this one replaces (regenerate, edited question) and its versions, kept with it.
	const replaced = hold.replaced;
	const runKey = { chatId: chat.id, replyId };
	// The partial text stored for other instances never outgrows what the output cap allows.
	const maxPartialChars = maxOutputTokens * MAX_CHARS_PER_TOKEN;
	let streamed = '';
	let lastOwedAt = Date.now();
	let done = false;
	// The heartbeat below; declared here because `finish` stops it.
	let progress: ReturnType<typeof setInterval> | undefined = undefined;
	// What is owed so far, for the sweeper should this process die; the heartbeat writes it.
	// Counted incrementally (only the text streamed since the last count, in slices) so a long
	// reply is never re-tokenized whole; each resumed count is one more cut, hence the margin.
	let countedChars = 0;
	let countedTokens = 0;
	let counting = false;
	let owed = 0;
	let owedWritten = 0;
	const countOwedSoFar = async () => {
		counting = true;
		try {
			const upTo = streamed.length;
			const added = await countTokensSliced(streamed.slice(countedChars, upTo));
			countedTokens += added + (countedChars > 0 ? CUT_MARGIN : 0);
			countedChars = upTo;
			owed = creditsOwed(inputEstimate + countedTokens);
		} finally {
			counting = false;
		}
	};

	/** Settles exactly once, whichever way the stream ends, then stores the reply. */
	const finish = async (outcome: {
		inputTokens?: number;
		outputTokens?: number;
		aborted: boolean;
		error?: string;
	}) => {
		if (done) return;
		done = true;
		if (progress) clearInterval(progress);
		let message: FinalMessage | null = null;
		try {
			message = await settleReply(outcome);
		} finally {
			await finishRun(db, runKey, streamed.slice(0, maxPartialChars), message).catch((error) =>
				log.error({ err: error, chatId: chat.id }, '[chat] ending the run failed')
			);
		}
	};
	/** Settles the hold; returns the message to store with the end of the run. */
	const settleReply = async (
		outcome: Parameters<typeof finish>[0]
	): Promise<FinalMessage | null> => {
		if (outcome.error && !streamed) {
			await retryWhileUnavailable(() => voidHold(db, { holdId: hold.holdId }), SETTLE_RETRY);
			return replacedRestored();
		}
		const inputTokens = outcome.inputTokens ?? inputEstimate;
		const outputTokens = outcome.outputTokens ?? (await countTokensSliced(streamed));
		const totalTokens = inputTokens + outputTokens;
		const settlement: Parameters<typeof settle>[1] = {
			holdId: hold.holdId,
			cost: creditsOwed(totalTokens),
			membershipTokens: Math.min(totalTokens, hold.membershipTokens),
			description: `Reply in ${chat.title}`,
			metadata: {
				model: model.id,
				inputTokens,
				outputTokens,
				totalTokens,
				chatId: chat.id,
				messageId: replyId,
				aborted: outcome.aborted
			}
		};
		// A connection lost at this moment (a restarting database, a cut connection) is retried:
		// settle is idempotent by hold id, so a retry after an unseen commit is a replay.
		const settled = await retryWhileUnavailable(() => settle(db, settlement), SETTLE_RETRY);
		recordReplySettled({ model: model.id, inputTokens, outputTokens, credits: settled.charged });
		await checkLowBalance(db, request.userId).catch((error) =>
			log.error({ err: error, userId: request.userId }, '[chat] low-balance alert failed')
		);
		const receipt: ReplyReceipt = {
			model: model.id,
			inputTokens,
			outputTokens,
			totalTokens,
			credits: settled.charged,
			// Filled in by finishRun from the ledger rows of the settlement.
			packages: [],
			...(settled.membershipTokens > 0
				? { membership: true, membershipTokens: settled.membershipTokens }
				: {}),
			aborted: outcome.aborted,
			...(outcome.error ? { error: outcome.error } : {})
		};
		return {
			id: replyId,
			userId: request.userId,
			text: streamed,
			metadata: replaced.length ? { receipt, versions: replaced } : { receipt },
			packagesOf: settled.transactionIds
		};
	};
	/**
	 * A regenerate (or an edited question) whose new reply failed before any output: nothing
	 * replaces the reply it dropped, so that reply comes back as the current version.
	 */
	const replacedRestored = (): FinalMessage | null => {
		const previous = replaced.at(-1);
		if (!previous) return null;
		const older = replaced.slice(0, -1);
		return {
			id: previous.id,
			userId: request.userId,
			text: previous.text,
			metadata: older.length
				? { receipt: previous.receipt, versions: older }
				: { receipt: previous.receipt }
		};
	};
	const settleSafely = (outcome: Parameters<typeof finish>[0]) =>
		finish(outcome).catch((error) =>
			log.error({ err: error, holdId: hold.holdId }, '[chat] settling the hold failed')
		);

	let writing = false;
	let writtenChars = -1;
	progress = setInterval(() => {
		if (writing || done) return;
		writing = true;
		const partial = streamed.length === writtenChars ? null : streamed.slice(0, maxPartialChars);
		writtenChars = streamed.length;
		const owing = owed;
		writeProgress(db, runKey, partial, owing > owedWritten ? owedUpdate(hold.holdId, owing) : null)
			.then((stopRequested) => {
				owedWritten = Math.max(owedWritten, owing);
				if (stopRequested && !stop.signal.aborted) stop.abort('stopped');
			})
			.catch((error) => log.warn({ err: error, chatId: chat.id }, '[chat] progress not written'))
			.finally(() => (writing = false));
	}, PROGRESS_INTERVAL_MS);

	const run = startRun({ chatId: chat.id, userId: request.userId, replyId, stop });
	const textId = `${replyId}-text`;
	// The question is stored already (a reload finds it before the reply). Text deltas that
	// arrive within one tick go out as one event.
	emit(run, { type: 'start', messageId: replyId });
	emit(run, { type: 'start-step' });
	let textStarted = false;
	let pending = '';
	let flushQueued = false;
	const flush = () => {
		flushQueued = false;
		if (!pending) return;
		if (!textStarted) {
			textStarted = true;
			emit(run, { type: 'text-start', id: textId });
		}
		emit(run, { type: 'text-delta', id: textId, delta: pending });
		pending = '';
	};
	const onText = (delta: string) => {
		streamed += delta;
		pending += delta;
		if (!flushQueued) {
			flushQueued = true;
			setImmediate(flush);
		}
		if (!counting && Date.now() - lastOwedAt > OWED_INTERVAL_MS) {
			lastOwedAt = Date.now();
			void countOwedSoFar().catch(() => {});
		}
	};

	const write = async () => {
		const end = held
			? await held.adopt(onText)
			: await streamModel(models.languageModel(model.id), { ...call, maxOutputTokens }, onText);
		// The last chunks first, then the settlement: settled and stored before the stream ends
		// (closeRun), so a listener that sees the end finds the reply, its receipt and the balance.
		const error =
			end.error !== undefined
				? errorMessage(end.error)
				: end.finishReason === 'error'
					? 'The model stopped with an error.'
					: undefined;
		flush();
		if (textStarted) emit(run, { type: 'text-end', id: textId });
		if (end.error !== undefined) {
			emit(run, { type: 'error', errorText: `The model failed: ${errorMessage(end.error)}` });
		} else if (end.aborted) {
			emit(run, { type: 'abort' });
		} else {
			emit(run, { type: 'finish-step' });
			emit(run, { type: 'finish', finishReason: end.finishReason as FinishReason });
		}
		await settleSafely({
			inputTokens: end.inputTokens,
			outputTokens: end.outputTokens,
			aborted: end.aborted,
			error
		});
	};
	void write()
		.catch((error) => log.error({ err: error, chatId: chat.id }, '[chat] the reply failed'))
		.finally(() => closeRun(run));
	return uiStreamResponse(subscribe(run));
}

/**
 * What the page needs to show the composer's "up to N credits" hint: the prompt estimate that
 * `streamReply` reserves for, computed by the same code (the stored history before the end,
 * trimmed to the budget) with an empty question, whose own tokens the browser adds (see
 * `maxReplyCredits` in reply-estimate.ts).
 */
export async function replyEstimate(
	deps: Pick<ReplyDeps, 'db' | 'config'>,
	chatId: string | null
): Promise<ReplyEstimate> {
	const { db, config } = deps;
	const earlier = chatId ? await historyBefore(db, config, chatId, '') : [];
	const { tokens } = await trimHistory(
		[...earlier, { id: '', role: 'user', text: '' }],
		config.historyTokens
	);
	return { promptTokens: tokens, maxOutputTokens: config.maxOutputTokens };
}

/** The stored conversation that may fit the prompt, before `beforeId` (the end if not stored). */
function historyBefore(db: Db, config: ChatConfig, chatId: string, beforeId: string) {
	return recentHistory(db, chatId, { ...historyLimits(config), beforeId });
}

/** How much stored history may fit the prompt's token budget (see recentHistory). */
function historyLimits(config: ChatConfig): Omit<HistoryLimits, 'beforeId'> {
	return {
		maxMessages: Math.floor(config.historyTokens / PER_MESSAGE_OVERHEAD),
		maxChars: config.historyTokens * MAX_CHARS_PER_TOKEN
	};
}

/**
 * Keeps the newest messages whose tokens fit the budget (the new question, last, always stays)
 * and returns them with an upper estimate of the prompt's tokens. Text that cannot fit by its
 * length alone (MAX_CHARS_PER_TOKEN) is dropped without being tokenized; what is kept is counted
 * in slices, so the event loop stays free however long the conversation.
 */
export async function trimHistory(
	messages: HistoryMessage[],
	budget: number
): Promise<{ messages: HistoryMessage[]; tokens: number }> {
	const kept: HistoryMessage[] = [];
	let tokens = 0;
	let chars = 0;
	for (let i = messages.length - 1; i >= 0; i--) {
		const question = kept.length === 0;
		chars += messages[i].text.length;
		if (!question && chars > budget * MAX_CHARS_PER_TOKEN) break;
		// A history message is counted only until it is known not to fit; the question, always.
		const limit = question ? Infinity : budget - tokens - PER_MESSAGE_OVERHEAD;
		const cost = (await countTokensSliced(messages[i].text, limit)) + PER_MESSAGE_OVERHEAD;
		if (!question && tokens + cost > budget) break;
		kept.unshift(messages[i]);
		tokens += cost;
	}
	return { messages: kept, tokens: tokens + PROMPT_OVERHEAD };
}

function errorMessage(error: unknown): string {
	return error instanceof Error ? error.message : String(error);
}
