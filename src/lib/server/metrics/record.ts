import { creditsCharged, jobRuns, repliesSettled, tokens, webhookDeliveries } from './registry';

/** For chat/reply.ts, once a reply is settled: what it cost and used. */
export function recordReplySettled(reply: {
	model: string;
	inputTokens: number;
	outputTokens: number;
	credits: number;
}): void {
	const model = reply.model;
	repliesSettled.inc({ model });
	// Non-negative finite numbers only: a counter refuses to go down.
	const amount = (n: number) => (Number.isFinite(n) && n > 0 ? n : 0);
	creditsCharged.inc({ model }, amount(reply.credits));
	tokens.inc({ model, kind: 'input' }, amount(reply.inputTokens));
	tokens.inc({ model, kind: 'output' }, amount(reply.outputTokens));
}

export type WebhookOutcome =
	| 'processed'
	| 'ignored'
	| 'failed'
	| 'duplicate'
	| 'invalid_signature'
	| 'invalid_payload'
	| 'error';

export function recordWebhookOutcome(outcome: WebhookOutcome): void {
	webhookDeliveries.inc({ outcome });
}

export function recordJobRun(job: string, outcome: 'ok' | 'failed'): void {
	jobRuns.inc({ job, outcome });
}
