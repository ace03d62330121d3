import type { Auth } from './auth';

/**
 * The account a password-reset link belongs to, or null when the link is unknown, used or
 * expired. better-auth keeps the link's token (hashed) until it is used; asking its adapter keeps
 * the hashing its business.
 */
export async function resetLinkOwner(
	auth: Auth,
	token: string
): Promise<{ id: string; email: string } | null> {
	const { internalAdapter } = await auth.$context;
	const link = await internalAdapter.findVerificationValue(`reset-password:${token}`);
	if (!link || link.expiresAt < new Date()) return null;
	const owner = await internalAdapter.findUserById(link.value);
	return owner ? { id: owner.id, email: owner.email } : null;
}
