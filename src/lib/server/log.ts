import { pino, type Logger } from 'pino';
import { logLevelOf } from './config';

export type { Logger };

/**
 * The server's logger: one JSON object per line on stdout (`level`, `time`, `msg` and fields),
 * for a log shipper to parse; `LOG_LEVEL` (default `info`) sets what is written. A request's
 * lines carry its `requestId` through `event.locals.log` (http/response-headers.ts). An invalid
 * LOG_LEVEL falls back to `info` here and stops the server with a clear message in readConfig.
 */
export const log: Logger = pino({
	level: logLevelOf(process.env.LOG_LEVEL),
	// Levels as words and ISO times: readable by people as well as by machines.
	formatters: { level: (label) => ({ level: label }) },
	timestamp: pino.stdTimeFunctions.isoTime,
	base: { pid: process.pid }
});
