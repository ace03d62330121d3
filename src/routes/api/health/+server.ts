import { json } from '@sveltejs/kit';
import { version } from '$app/environment';
import { ping } from '$lib/server/db/client';
import { runtime } from '$lib/server/runtime';
import type { RequestHandler } from './$types';

const TIMEOUT_MS = 2_000;

export const GET: RequestHandler = async ({ locals }) => {
	const { database } = await runtime();
	const headers = { 'cache-control': 'no-store' };
	try {
		await withTimeout(ping(database.db), TIMEOUT_MS);
		return json({ status: 'ok', version }, { headers });
	} catch (error) {
		// The health URL is public: driver messages name hosts, users and databases, so the cause
		// goes to the log only and the probe sees a fixed answer.
		locals.log.error({ err: error }, 'health check: database unavailable');
		return json({ status: 'unavailable', version }, { status: 503, headers });
	}
};

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
	});
	return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
