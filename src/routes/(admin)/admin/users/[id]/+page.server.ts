import { error, fail } from '@sveltejs/kit';
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { requireAdmin } from '$lib/server/auth/access';
import { setBanned } from '$lib/server/admin/ban';
import {
	adjustUserCredits,
	previewAdjust,
	revokeUserPackage
} from '$lib/server/admin/user-credits';
import { userDetail } from '$lib/server/admin/users';
import { LedgerError, listTransactions } from '$lib/server/credits';
import { AppError } from '$lib/server/errors';
import { toHistoryFilter } from '$lib/server/http/history-query';
import { readForm } from '$lib/server/http/read-body';
import { runtime } from '$lib/server/runtime';
import type { HistoryFilterValues, TransactionType } from '$lib/types';
import { adjustForm, banForm, revokeForm, userPageQuery } from './schema';
import type { Actions, PageServerLoad } from './$types';

const HISTORY_PAGE_SIZE = 25;

export const load: PageServerLoad = async ({ locals, url, params }) => {
	requireAdmin(locals, url);
	const parsed = userPageQuery.safeParse(Object.fromEntries(url.searchParams));
	const query = parsed.success ? parsed.data : {};
	const filter: HistoryFilterValues = {
		type: (parsed.success && query.type?.length === 1 ? query.type[0] : '') as TransactionType | '',
		from: (parsed.success && query.from) || '',
		to: (parsed.success && query.to) || ''
	};
	const { database } = await runtime();
	const detail = await userDetail(database.db, params.id);
	if (!detail) error(404, 'There is no such user.');
	const history = await listTransactions(database.db, params.id, {
		...toHistoryFilter(query),
		cursor: 'cursor' in query ? query.cursor : undefined,
		limit: HISTORY_PAGE_SIZE
	});
	return {
		detail,
		history,
		filter,
		paged: parsed.success && Boolean(query.cursor),
		filterError: parsed.success
			? null
			: `${String(parsed.error.issues[0].path[0] ?? 'filter')}: ${parsed.error.issues[0].message}. Showing the unfiltered history instead.`,
		self: locals.user?.id === params.id
	};
};

type FormName = 'adjust' | 'revoke' | 'ban' | 'unban';

/** Field → first message, for inline errors. */
function fieldErrors(zodError: z.ZodError): Record<string, string> {
	const errors: Record<string, string> = {};
	for (const issue of zodError.issues) {
		const field = String(issue.path[0] ?? 'form');
		errors[field] ??= issue.message;
	}
	return errors;
}

/** Text fields as typed, to refill the form (never the File of a multipart body). */
function textValues(fields: Record<string, FormDataEntryValue>): Record<string, string> {
	return Object.fromEntries(
		Object.entries(fields).filter(
			(entry): entry is [string, string] => typeof entry[1] === 'string'
		)
	);
}

/** A refused domain call, shown on its form: the same codes the JSON API answers. */
function refused(form: FormName, cause: unknown, values: Record<string, string>) {
	if (cause instanceof AppError) {
		const field = typeof cause.details.field === 'string' ? cause.details.field : 'form';
		const errors: Record<string, string> = { [field]: cause.message };
		return fail(cause.status, { form, errors, values });
	}
	if (cause instanceof LedgerError) {
		const status =
			cause.code === 'package_not_found' ? 404 : cause.code === 'idempotency_conflict' ? 409 : 400;
		const errors: Record<string, string> = { form: cause.message };
		return fail(status, { form, errors, values });
	}
	throw cause;
}

export const actions: Actions = {
	adjust: async ({ request, locals, url, params }) => {
		const admin = requireAdmin(locals, url);
		const fields = await readForm(request);
		const values = textValues(fields);
		const parsed = adjustForm.safeParse(fields);
		if (!parsed.success) {
			return fail(400, { form: 'adjust' as const, errors: fieldErrors(parsed.error), values });
		}
		const input = parsed.data;
		const { database } = await runtime();
		try {
			if (!input.confirm || !input.key) {
				const preview = await previewAdjust(database.db, {
					userId: params.id,
					action: input.action,
					amount: input.amount
				});
				if (preview.problem) {
					const errors: Record<string, string> = { amount: preview.problem };
					return fail(409, { form: 'adjust' as const, errors, values });
				}
				return {
					form: 'adjust' as const,
					preview: {
						...preview,
						// Exactly what was checked, to resubmit unchanged with the confirmation.
						values: {
							action: input.action,
							amount: String(input.amount),
							reason: input.reason,
							expiresAt: values.expiresAt?.trim() ?? ''
						},
						// The key ties the confirmation to this preview: submitting it twice writes once.
						key: randomUUID()
					}
				};
			}
			const result = await adjustUserCredits(database.db, {
				actor: { id: admin.id, email: admin.email },
				userId: params.id,
				action: input.action,
				amount: input.amount,
				reason: input.reason,
				expiresAt: input.expiresAt ?? null,
				key: input.key
			});
			return {
				form: 'adjust' as const,
				adjusted: {
					delta: result.delta,
					balanceAfter: result.balanceAfter,
					replayed: result.replayed
				}
			};
		} catch (cause) {
			return refused('adjust', cause, values);
		}
	},

	revoke: async ({ request, locals, url, params }) => {
		const admin = requireAdmin(locals, url);
		const fields = await readForm(request);
		const values = textValues(fields);
		const parsed = revokeForm.safeParse(fields);
		if (!parsed.success) {
			return fail(400, { form: 'revoke' as const, errors: fieldErrors(parsed.error), values });
		}
		const { database } = await runtime();
		try {
			const result = await revokeUserPackage(database.db, {
				actor: { id: admin.id, email: admin.email },
				userId: params.id,
				packageId: parsed.data.packageId,
				reason: parsed.data.reason,
				key: randomUUID()
			});
			return { form: 'revoke' as const, revoked: { credits: result.revoked } };
		} catch (cause) {
			return refused('revoke', cause, values);
		}
	},

	ban: ({ request, locals, url, params }) => banAction('ban', { request, locals, url, params }),
	unban: ({ request, locals, url, params }) => banAction('unban', { request, locals, url, params })
};

async function banAction(
	form: 'ban' | 'unban',
	event: { request: Request; locals: App.Locals; url: URL; params: { id: string } }
) {
	const admin = requireAdmin(event.locals, event.url);
	const fields = await readForm(event.request);
	const values = textValues(fields);
	const parsed = banForm.safeParse(fields);
	if (!parsed.success) return fail(400, { form, errors: fieldErrors(parsed.error), values });
	const { database, auth } = await runtime();
	try {
		await setBanned(auth, database.db, {
			actor: { id: admin.id, email: admin.email },
			userId: event.params.id,
			banned: form === 'ban',
			reason: parsed.data.reason,
			headers: event.request.headers
		});
		return { form, banned: form === 'ban' };
	} catch (cause) {
		return refused(form, cause, values);
	}
}
