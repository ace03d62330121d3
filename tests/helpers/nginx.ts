import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopProcess } from './app-server';
import { freePort } from './ports';
import { TestDependencyError } from './test-dependency-error';

export interface Nginx {
	/** Where clients send their traffic: `http://127.0.0.1:<port>`. */
	url: string;
	port: number;
	/** Everything nginx wrote to its error log so far. */
	output(): string;
	stop(): Promise<void>;
}

const NGINX = process.env.NGINX_BIN ?? '/usr/sbin/nginx';

/**
 * Starts Debian's nginx (the `nginx-light` package; .ci/run installs it) in the foreground as a
 * load balancer in front of `upstreams` (`http://127.0.0.1:<port>` each), configured as a
 * production deployment would be for this app: streamed responses are not buffered (SSE), the
 * client's address goes in X-Forwarded-For (run the app with ADDRESS_HEADER=x-forwarded-for and
 * XFF_DEPTH=1), and upstream connections are kept alive. Everything it writes lives in a fresh
 * temporary folder removed at stop.
 */
export async function startNginx(upstreams: string[]): Promise<Nginx> {
	if (spawnSync(NGINX, ['-v']).error) {
		throw new TestDependencyError(
			'nginx',
			`${NGINX} is missing`,
			'install it with `apt-get install -y nginx-light` (.ci/run does), or set NGINX_BIN'
		);
	}
	const dir = mkdtempSync(join(tmpdir(), 'credit-chat-nginx-'));
	const port = await freePort();
	const servers = upstreams.map((url) => `\t\tserver ${new URL(url).host};`).join('\n');
	const config = `worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
daemon off;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path ${dir}/body;
	proxy_temp_path ${dir}/proxy;
	fastcgi_temp_path ${dir}/fastcgi;
	uwsgi_temp_path ${dir}/uwsgi;
	scgi_temp_path ${dir}/scgi;
	client_max_body_size 2m;
	upstream app {
${servers}
		keepalive 64;
	}
	server {
		listen 127.0.0.1:${port};
		location / {
			proxy_pass http://app;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $http_host;
			proxy_set_header X-Forwarded-For $remote_addr;
			proxy_set_header X-Forwarded-Proto $scheme;
			proxy_buffering off;
			proxy_read_timeout 300s;
			proxy_next_upstream error timeout http_502 http_503;
		}
	}
}
`;
	writeFileSync(join(dir, 'nginx.conf'), config);
	const child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf')], {
		stdio: ['ignore', 'pipe', 'pipe']
	});
	let output = '';
	child.stdout?.on('data', (chunk) => (output += chunk));
	child.stderr?.on('data', (chunk) => (output += chunk));
	const url = `http://127.0.0.1:${port}`;
	try {
		await waitForPort(url, child, () => output);
	} catch (error) {
		child.kill('SIGKILL');
		rmSync(dir, { recursive: true, force: true });
		throw error;
	}
	return {
		url,
		port,
		output: () => output,
		async stop() {
			// SIGQUIT: graceful shutdown, open streams finish.
			await stopProcess(child, 'SIGQUIT');
			rmSync(dir, { recursive: true, force: true });
		}
	};
}

async function waitForPort(url: string, child: ChildProcess, output: () => string) {
	const deadline = Date.now() + 10_000;
	while (Date.now() < deadline) {
		if (child.exitCode !== null) {
			throw new Error(`nginx exited with ${child.exitCode}:\n${output()}`);
		}
		try {
			// Any HTTP answer (a 502 while no upstream is up yet) means nginx listens.
			await fetch(url, { method: 'HEAD' });
			return;
		} catch {
			await new Promise((resolve) => setTimeout(resolve, 50));
		}
	}
	throw new Error(`nginx did not listen on ${url} within 10 s:\n${output()}`);
}
