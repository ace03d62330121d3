import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import adapterNode from '@sveltejs/adapter-node';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/**
 * Hashes of the inline scripts in src/app.html (the theme script that runs before first paint).
 * kit.csp hashes only Kit's own scripts; computing these from the file keeps the policy from
 * drifting when someone edits the script.
 */
function appTemplateScriptHashes() {
	const template = readFileSync(new URL('./src/app.html', import.meta.url), 'utf8');
	return [...template.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(
		([, body]) =>
			/** @type {`sha256-${string}`} */ (
				`sha256-${createHash('sha256').update(body).digest('base64')}`
			)
	);
}

/**
 * adapter-node, plus the security headers on the files it serves itself. Its handler answers
 * build/client and static/ with sirv before SvelteKit's handle hook runs, so the hook never sees
 * those responses. adapter-node copies its entry files into .svelte-kit/adapter-node/entries and
 * then bundles them; right after that copy, its handler.js becomes kit-handler.js and a new
 * handler.js sets the headers (`res.setHeader`, which Node merges with what sirv and SvelteKit
 * pass to `writeHead`) before delegating. So build/index.js and custom servers that import
 * build/handler.js both get them, and the bundle needs no post-processing.
 *
 * @param {import('@sveltejs/adapter-node').AdapterOptions} options
 * @returns {import('@sveltejs/kit').Adapter}
 */
function adapter(options = {}) {
	const node = adapterNode(options);
	return {
		...node,
		name: 'adapter-node + security headers',
		async adapt(builder) {
			let wrapped = false;
			const watched = Object.create(builder);
			watched.copy = (/** @type {Parameters<typeof builder.copy>} */ ...args) => {
				const copied = builder.copy(...args);
				const entries = args[1];
				if (
					entries.endsWith(`adapter-node${sep}entries`) ||
					entries.endsWith('adapter-node/entries')
				) {
					renameSync(join(entries, 'handler.js'), join(entries, 'kit-handler.js'));
					writeFileSync(join(entries, 'handler.js'), handlerSource());
					wrapped = true;
				}
				return copied;
			};
			await node.adapt(watched);
			// A future adapter-node that copies its entries differently must fail the build, not
			// silently ship static files without the headers.
			if (!wrapped) throw new Error("svelte.config.js: could not wrap adapter-node's handler.");
		}
	};
}

function handlerSource() {
	const module = fileURLToPath(
		new URL('./src/lib/server/http/security-headers.js', import.meta.url)
	);
	return `// Written by svelte.config.js: adapter-node's handler, with the security headers on every response.
import process from 'node:process';
import { handler as kitHandler } from './kit-handler.js';
import { securityHeaders } from ${JSON.stringify(module)};

const headers = securityHeaders({ origin: process.env.ORIGIN });

/** @type {import('polka').Middleware} */
export const handler = (req, res, next) => {
	for (const [name, value] of headers) res.setHeader(name, value);
	return kitHandler(req, res, next);
};
`;
}

/** @type {import('@sveltejs/kit').Config} */
const config = {
	preprocess: vitePreprocess(),
	compilerOptions: { runes: true },
	kit: {
		adapter: adapter(),
		version: { name: process.env.npm_package_version ?? 'dev' },
		csp: {
			// Nonces on rendered pages, hashes on prerendered ones; Kit adds them for its own scripts.
			mode: 'auto',
			directives: {
				'default-src': ['self'],
				'script-src': ['self', ...appTemplateScriptHashes()],
				// Style attributes are rendered on the server (progress bars, chart legends, app.html)
				// and Svelte's style: directive sets them too; CSS cannot run script, and markup is
				// escaped by Svelte, so allowing inline styles is the accepted trade-off.
				'style-src': ['self', 'unsafe-inline'],
				'img-src': ['self', 'data:'],
				'font-src': ['self'],
				'connect-src': ['self'],
				'object-src': ['none'],
				'base-uri': ['self'],
				'frame-ancestors': ['none'],
				// A form posted without JavaScript is answered with a 303 to the Polar checkout, and
				// Chromium applies form-action to that redirect too.
				'form-action': ['self', 'https://polar.sh', 'https://*.polar.sh']
			}
		}
	}
};

export default config;
