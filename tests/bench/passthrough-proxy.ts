/**
 * The minimal pass-through proxy `npm run bench:chat` measures the app against: a plain
 * `node:http` server, run in its own process (`node tests/bench/passthrough-proxy.ts --upstream
 * <base url>`), with no auth, no database and no AI SDK. Every POST body is forwarded unchanged
 * to the upstream's Chat Completions endpoint; the upstream's SSE is parsed and re-emitted as
 * the same UI-message SSE that `POST /api/chat` sends (`start`, `start-step`, `text-start`, one
 * `text-delta` per upstream chunk, `text-end`, `finish-step`, `finish`, `[DONE]`). It is the
 * physical reference for "streaming through Node on this machine": whatever the app adds beyond
 * it is the app's own work (session, reserve, writes, the AI SDK's transform chain).
 *
 * It uses the global `fetch` (undici) for the upstream, as the AI SDK in the app does, and writes
 * one SSE event per upstream chunk, as the app does. Node only (no tsx): Node 24 strips the
 * types, so the file may use only erasable TypeScript and `node:` imports.
 *
 * Prints `listening on http://127.0.0.1:<port>` once it accepts connections.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const upstreamArg = process.argv.indexOf('--upstream');
const upstream = upstreamArg > 0 ? process.argv[upstreamArg + 1] : undefined;
if (!upstream) {
	console.error('usage: node tests/bench/passthrough-proxy.ts --upstream http://host:port/v1');
	process.exit(2);
}
const completionsUrl = `${upstream.replace(/\/$/, '')}/chat/completions`;

const SSE_HEADERS = {
	'content-type': 'text/event-stream',
	'cache-control': 'no-cache',
	connection: 'keep-alive',
	'x-vercel-ai-ui-message-stream': 'v1',
	'x-accel-buffering': 'no'
};

function event(res: ServerResponse, chunk: object): void {
	res.write(`data: ${JSON.stringify(chunk)}\n\n`);
}

async function readBody(req: IncomingMessage): Promise<string> {
	const parts: Buffer[] = [];
	for await (const part of req) parts.push(part as Buffer);
	return Buffer.concat(parts).toString('utf8');
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
	if (req.method !== 'POST') {
		res.writeHead(404, { 'content-type': 'application/json' });
		res.end(JSON.stringify({ error: { code: 'not_found', message: 'POST only' } }));
		return;
	}
	const body = await readBody(req);
	const gone = new AbortController();
	res.on('close', () => gone.abort());
	const response = await fetch(completionsUrl, {
		method: 'POST',
		headers: { 'content-type': 'application/json', authorization: 'Bearer bench' },
		body,
		signal: gone.signal
	});
	if (response.status !== 200 || !response.body) {
		res.writeHead(502, { 'content-type': 'application/json' });
		res.end(JSON.stringify({ error: { code: 'upstream', message: await response.text() } }));
		return;
	}
	res.writeHead(200, SSE_HEADERS);
	const textId = '0';
	event(res, { type: 'start', messageId: randomUUID() });
	event(res, { type: 'start-step' });
	let textStarted = false;
	let finishReason = 'other';
	const decoder = new TextDecoder();
	let buffer = '';
	for await (const bytes of response.body) {
		buffer += decoder.decode(bytes, { stream: true });
		let end: number;
		while ((end = buffer.indexOf('\n\n')) >= 0) {
			const raw = buffer.slice(0, end);
			buffer = buffer.slice(end + 2);
			if (!raw.startsWith('data: ')) continue;
			const data = raw.slice(6);
			if (data === '[DONE]') continue;
			const chunk = JSON.parse(data);
			const choice = chunk.choices?.[0];
			const content = choice?.delta?.content;
			if (typeof content === 'string' && content !== '') {
				if (!textStarted) {
					textStarted = true;
					event(res, { type: 'text-start', id: textId });
				}
				event(res, { type: 'text-delta', id: textId, delta: content });
			}
			if (choice?.finish_reason) finishReason = choice.finish_reason;
		}
	}
	if (textStarted) event(res, { type: 'text-end', id: textId });
	event(res, { type: 'finish-step' });
	event(res, { type: 'finish', finishReason });
	res.end('data: [DONE]\n\n');
}

const server = createServer((req, res) => {
	handle(req, res).catch((error: unknown) => {
		if (!res.headersSent) {
			res.writeHead(502, { 'content-type': 'application/json' });
			res.end(JSON.stringify({ error: { code: 'proxy', message: String(error) } }));
		} else res.destroy();
	});
});
// Keep-alive as long as the clients keep their connections, like adapter-node's defaults.
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
	const { port } = server.address() as AddressInfo;
	console.log(`listening on http://127.0.0.1:${port}`);
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
	process.once(signal, () => {
		server.closeAllConnections();
		server.close(() => process.exit(0));
	});
}
