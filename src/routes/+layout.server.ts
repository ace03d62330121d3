import type { CurrentUser } from '$lib/types';
import type { LayoutServerLoad } from './$types';

export const load: LayoutServerLoad = ({ locals }) => {
	const user: CurrentUser | null = locals.user
		? {
				id: locals.user.id,
				name: locals.user.name,
				email: locals.user.email,
				emailVerified: locals.user.emailVerified,
				isAdmin: locals.user.role === 'admin'
			}
		: null;
	return { user };
};
