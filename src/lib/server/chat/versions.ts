import type { ReplyReceipt, ReplyVersion } from '../../types';

/**
 * A regenerated reply (or the reply to a question that was edited) is not lost: the reply that
 * replaces it carries it, and the versions before it, in its metadata as `versions` (oldest
 * first). Only the current version is the message's `parts`, so only it reaches the model.
 */
export const MAX_VERSIONS = 20;

/** The earlier versions stored in a reply's metadata (malformed entries are skipped). */
export function replyVersions(metadata: unknown): ReplyVersion[] {
	if (!metadata || typeof metadata !== 'object' || !('versions' in metadata)) return [];
	const versions = (metadata as { versions: unknown }).versions;
	if (!Array.isArray(versions)) return [];
	return versions.filter(
		(v): v is ReplyVersion =>
			!!v &&
			typeof v === 'object' &&
			typeof v.id === 'string' &&
			typeof v.text === 'string' &&
			typeof v.createdAt === 'string'
	);
}

/** The versions a reply replacing `replaced` carries: the replaced one's, then itself. */
export function versionsAfter(replaced: {
	id: string;
	text: string;
	metadata: unknown;
	createdAt: Date;
}): ReplyVersion[] {
	const receipt = (replaced.metadata as { receipt?: ReplyReceipt } | null)?.receipt ?? null;
	return [
		...replyVersions(replaced.metadata),
		{
			id: replaced.id,
			text: replaced.text,
			receipt,
			createdAt: replaced.createdAt.toISOString()
		}
	].slice(-MAX_VERSIONS);
}
