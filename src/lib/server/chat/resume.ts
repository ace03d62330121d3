import type { UIMessageChunk } from 'ai';
import type { Db } from '../db/client';
import { AppError } from '../errors';
import { chatMessages, findChat, isChatId, textOfParts } from './history';
import { activeRun, followStored, requestStop, storedRun, subscribe } from './runs';
import { sseStream } from './ui-stream';

const notFound = () => new AppError(404, 'chat_not_found', 'This chat does not exist.');

/**
 * The chat's running reply for its owner: replayed from its start and then followed live (from
 * this process when it runs here, otherwise from the progress stored in PostgreSQL). Null when no
 * reply is running. Another user's chat reads like a missing one. The stream is SSE events.
 */
export async function runningReplyStream(
	db: Db,
	input: { chatId: string; userId: string; after?: string | null }
): Promise<ReadableStream<Uint8Array> | null> {
	const chat = await findChat(db, input.chatId, input.userId);
	if (!chat) throw notFound();
	const local = activeRun(chat.id);
	if (local) return subscribe(local);
	const stored = await storedRun(db, chat.id);
	if (stored && stored.status === 'running' && !stored.lost) {
		return sseStream(followStored(db, stored));
	}
	const replay = input.after ? await storedReplyStream(db, chat.id, input.after) : null;
	return replay && sseStream(replay);
}

/**
 * The reply stored right after the question `after`, as one stream, or null. A tab whose
 * connection dropped (Retry after "Connection lost") asks for it: the reply went on without it,
 * and showing the stored one is what it missed, where asking again would make (and bill) another.
 */
async function storedReplyStream(
	db: Db,
	chatId: string,
	after: string
): Promise<ReadableStream<UIMessageChunk> | null> {
	if (!isChatId(after)) return null;
	const messages = await chatMessages(db, chatId);
	const at = messages.findIndex((m) => m.id === after && m.role === 'user');
	const reply = at >= 0 ? messages[at + 1] : undefined;
	if (!reply || reply.role !== 'assistant') return null;
	const textId = `${reply.id}-text`;
	const chunks: UIMessageChunk[] = [
		{ type: 'start', messageId: reply.id },
		{ type: 'text-start', id: textId },
		{ type: 'text-delta', id: textId, delta: textOfParts(reply.parts) },
		{ type: 'text-end', id: textId },
		{ type: 'finish' }
	];
	return new ReadableStream({
		start(controller) {
			for (const chunk of chunks) controller.enqueue(chunk);
			controller.close();
		}
	});
}

/**
 * Stop, from any tab or instance: the running reply ends within about a second and is billed for
 * what it produced. Returns whether a reply was running.
 */
export async function stopReply(
	db: Db,
	input: { chatId: string; userId: string }
): Promise<boolean> {
	const chat = await findChat(db, input.chatId, input.userId);
	if (!chat) throw notFound();
	return requestStop(db, chat.id);
}
