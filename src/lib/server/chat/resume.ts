import type { UIMessageChunk } from 'ai';
import type { Db } from '../db/client';
import { AppError } from '../errors';
import { findChat } from './history';
import { activeRun, followStored, requestStop, storedRun, subscribe } from './runs';

const notFound = () => new AppError(404, 'chat_not_found', 'This chat does not exist.');

/**
 * The chat's running reply for its owner: replayed from its start and then followed live (from
 * this process when it runs here, otherwise from the progress stored in PostgreSQL). Null when no
 * reply is running. Another user's chat reads like a missing one.
 */
export async function runningReplyStream(
	db: Db,
	input: { chatId: string; userId: string }
): Promise<ReadableStream<UIMessageChunk> | null> {
	const chat = await findChat(db, input.chatId, input.userId);
	if (!chat) throw notFound();
	const local = activeRun(chat.id);
	if (local) return subscribe(local);
	const stored = await storedRun(db, chat.id);
	if (!stored || stored.status !== 'running' || stored.lost) return null;
	return followStored(db, stored);
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
