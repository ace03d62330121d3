export { instanceMetrics } from './cluster';
export { recordJobRun, recordReplySettled, recordWebhookOutcome } from './record';
export type { WebhookOutcome } from './record';
export { observeRequests } from './requests';
export { hasBearerToken } from './token';
