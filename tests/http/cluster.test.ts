// `npm start` (src/cluster.js): a primary forking WEB_CONCURRENCY workers of the built app that
// share one port, against a real PostgreSQL. Which worker answered is read from /proc (the
// worker process holding the server side of our TCP connection), so nothing about processes
// is ever sent to clients.
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchApp, spawnApp, startAppServer, type AppServer } from '../helpers/app-server';
import { sample, scrape } from '../helpers/metrics';

const TOKEN = 'cluster-metrics-token-0123456789';

/** Pids of the live children of `parent`. */
function childrenOf(parent: number): number[] {
	const pids: number[] = [];
	for (const entry of readdirSync('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
			// Fields after the command name (which may hold spaces) in parentheses.
			const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
			if (Number(ppid) === parent && state !== 'Z') pids.push(Number(entry));
		} catch {
			// The process ended while we looked.
		}
	}
	return pids.sort((a, b) => a - b);
}

/** The inode of the server side of the TCP connection from our `clientPort` to `serverPort`. */
function serverSocketInode(serverPort: number, clientPort: number): string | null {
	const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
	for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
		const fields = line.trim().split(/\s+/);
		if (fields.length < 10) continue;
		if (fields[1].endsWith(`:${hex(serverPort)}`) && fields[2].endsWith(`:${hex(clientPort)}`)) {
			return fields[9];
		}
	}
	return null;
}

function holderOf(inode: string, pids: number[]): number | null {
	for (const pid of pids) {
		try {
			for (const fd of readdirSync(`/proc/${pid}/fd`)) {
				try {
					if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return pid;
				} catch {
					// fd closed meanwhile
				}
			}
		} catch {
			// process gone
		}
	}
	return null;
}

/**
 * One GET over a fresh connection; while the connection is still open, finds which of
 * `workers` holds its server side. Returns the status line's code and that worker.
 */
function requestAndFindWorker(
	url: string,
	path: string,
	workers: number[]
): Promise<{ status: number; worker: number | null }> {
	const { hostname, port } = new URL(url);
	return new Promise((resolve, reject) => {
		const socket = connect({ host: hostname, port: Number(port) });
		let received = '';
		socket.on('error', reject);
		socket.on('connect', () => {
			socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n\r\n`);
		});
		socket.on('data', (chunk) => {
			received += chunk;
			if (!received.includes('\r\n\r\n')) return;
			socket.removeAllListeners('data');
			const inode = serverSocketInode(Number(port), socket.localPort!);
			const worker = inode ? holderOf(inode, workers) : null;
			socket.destroy();
			resolve({ status: Number(received.split(' ')[1]), worker });
		});
	});
}

const listeningLines = (output: string, url: string) =>
	output.split(`Listening on ${url}`).length - 1;

async function until(condition: () => boolean, what: string, timeoutMs = 30_000) {
	const deadline = Date.now() + timeoutMs;
	while (!condition()) {
		if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}

describe('npm start: src/cluster.js with WEB_CONCURRENCY=2', () => {
	let app: AppServer;
	let workers: number[];

	beforeAll(async () => {
		app = await startAppServer({ WEB_CONCURRENCY: '2', METRICS_TOKEN: TOKEN }, { cluster: true });
		await until(() => listeningLines(app.output(), app.url) === 2, 'both workers listen');
		workers = childrenOf(app.pid);
	});
	afterAll(async () => {
		await app?.stop();
	});

	it('serves requests from two worker processes, and /metrics sums what both counted', async () => {
		expect(workers).toHaveLength(2);
		const before =
			sample(await scrape(app.url, TOKEN), 'credit_chat_http_requests_total', {
				route: '/api/health',
				method: 'GET',
				status: '200'
			}) || 0;
		const served = new Map<number, number>();
		for (let i = 0; i < 20; i++) {
			const { status, worker } = await requestAndFindWorker(app.url, '/api/health', workers);
			expect(status).toBe(200);
			expect(workers).toContain(worker);
			served.set(worker!, (served.get(worker!) ?? 0) + 1);
		}
		expect([...served.keys()].sort()).toEqual(workers);
		// Each scrape is answered by one worker; only the aggregate over both sees all 20.
		const after = sample(await scrape(app.url, TOKEN), 'credit_chat_http_requests_total', {
			route: '/api/health',
			method: 'GET',
			status: '200'
		});
		expect(after - before).toBe(20);
	});

	it('replaces a worker killed with SIGKILL and keeps answering', async () => {
		const [victim, survivor] = workers;
		process.kill(victim, 'SIGKILL');
		await expect
			.poll(() => childrenOf(app.pid).filter((pid) => pid !== victim).length, { timeout: 20_000 })
			.toBe(2);
		const replaced = childrenOf(app.pid);
		expect(replaced).toContain(survivor);
		expect(replaced).not.toContain(victim);
		await expect.poll(() => listeningLines(app.output(), app.url), { timeout: 30_000 }).toBe(3);
		const served = new Set<number | null>();
		for (let i = 0; i < 10; i++) {
			const { status, worker } = await requestAndFindWorker(app.url, '/api/health', replaced);
			expect(status).toBe(200);
			served.add(worker);
		}
		expect([...served].sort()).toEqual(replaced);
		workers = replaced;
	});

	it('stops every worker on SIGTERM and exits with 0', async () => {
		const pids = childrenOf(app.pid);
		process.kill(app.pid, 'SIGTERM');
		expect(await app.exited).toEqual({ code: 0, signal: null });
		for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
		expect(app.output()).toContain('all workers stopped');
	});
});

describe('src/cluster.js refuses bad settings in one line', () => {
	const run = (env: Record<string, string>) =>
		new Promise<{ code: number | null; output: string }>((resolve) => {
			const child = spawnApp({ PORT: '0', ...env }, 'src/cluster.js');
			let output = '';
			child.stdout?.on('data', (chunk) => (output += chunk));
			child.stderr?.on('data', (chunk) => (output += chunk));
			child.on('exit', (code) => resolve({ code, output }));
		});

	it.each(['abc', '0', '65', '2.5', '-1'])('WEB_CONCURRENCY=%s', async (value) => {
		const { code, output } = await run({ WEB_CONCURRENCY: value });
		expect(code).toBe(1);
		expect(output.trim()).toBe(
			`credit-chat cannot start: WEB_CONCURRENCY must be a whole number from 1 to 64 (got "${value}"); leave it unset for one worker per core.`
		);
	});
});

describe('src/cluster.js without DATABASE_URL', () => {
	it('runs one worker on the embedded database and says why', async () => {
		const dataDir = mkdtempSync(join(tmpdir(), 'credit-chat-cluster-'));
		try {
			const app = await launchApp({ WEB_CONCURRENCY: '2', DATA_DIR: dataDir }, { cluster: true });
			try {
				expect(app.output()).toContain(
					'DATABASE_URL is not set: the embedded database (PGlite) can be opened by one process only, so 1 worker runs instead of 2.'
				);
				expect(childrenOf(app.pid)).toHaveLength(1);
				expect((await fetch(`${app.url}/api/health`)).status).toBe(200);
			} finally {
				await app.stop();
			}
			expect(await app.exited).toEqual({ code: 0, signal: null });
		} finally {
			rmSync(dataDir, { recursive: true, force: true });
		}
	});
});
