import hljs from 'highlight.js/lib/core';
import { escapeHtml } from './escape-html';
import bash from 'highlight.js/lib/languages/bash';
import css from 'highlight.js/lib/languages/css';
import diff from 'highlight.js/lib/languages/diff';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import plaintext from 'highlight.js/lib/languages/plaintext';
import python from 'highlight.js/lib/languages/python';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import { Marked, type Tokens } from 'marked';

// A handful of common languages (their aliases come along: ts, js, sh, html, py, yml …) keeps
// the client bundle small; other fences render as plain, escaped code.
hljs.registerLanguage('bash', bash);
hljs.registerLanguage('css', css);
hljs.registerLanguage('diff', diff);
hljs.registerLanguage('javascript', javascript);
hljs.registerLanguage('json', json);
hljs.registerLanguage('plaintext', plaintext);
hljs.registerLanguage('python', python);
hljs.registerLanguage('sql', sql);
hljs.registerLanguage('typescript', typescript);
hljs.registerLanguage('xml', xml);
hljs.registerLanguage('yaml', yaml);

export { escapeHtml };

/**
 * The URL a link may point to, or null. Only http(s), mailto and scheme-less (relative)
 * URLs pass; `javascript:`, `data:`, `vbscript:` and every other scheme are refused. The
 * checked string is exactly what lands in the attribute (escaped), so the browser cannot
 * decode it into something else.
 */
export function safeUrl(href: string): string | null {
	// Browsers drop ASCII whitespace and control characters from URLs ("java\tscript:").
	// eslint-disable-next-line no-control-regex
	const url = href.replace(/[\u0000-\u0020\u007f]/g, '');
	if (!url) return null;
	if (/^(https?:|mailto:)/i.test(url)) return url;
	// A colon before the first "/", "?" or "#" means a scheme; anything else is relative.
	const schemeEnd = url.search(/[/?#]/);
	const head = schemeEnd === -1 ? url : url.slice(0, schemeEnd);
	return head.includes(':') ? null : url;
}

function codeBlock({ text, lang }: Tokens.Code): string {
	const language = (lang ?? '').trim().split(/\s+/)[0].toLowerCase();
	const known = language && hljs.getLanguage(language) ? language : '';
	const body = known
		? hljs.highlight(text, { language: known, ignoreIllegals: true }).value
		: escapeHtml(text);
	const label = escapeHtml(language || 'text');
	return (
		`<div class="code-block"><div class="code-header"><span>${label}</span>` +
		`<button type="button" class="code-copy" data-copy-code aria-label="Copy code">Copy code</button></div>` +
		`<pre tabindex="0"><code class="hljs${known ? ` language-${escapeHtml(known)}` : ''}">${body}</code></pre></div>\n`
	);
}

const marked = new Marked({
	gfm: true,
	breaks: false,
	renderer: {
		// Raw HTML in the markdown is shown as text, never injected.
		html({ text }) {
			return escapeHtml(text);
		},
		code: codeBlock,
		link({ href, title, tokens }) {
			const inner = this.parser.parseInline(tokens);
			const url = safeUrl(href);
			if (!url) return inner;
			const titleAttr = title ? ` title="${escapeHtml(title)}"` : '';
			const target = /^mailto:/i.test(url)
				? ''
				: ' target="_blank" rel="noopener noreferrer nofollow"';
			return `<a href="${escapeHtml(url)}"${titleAttr}${target}>${inner}</a>`;
		},
		// Images are shown as links: loading them would tell any server that this reply was read.
		image({ href, text }) {
			const url = safeUrl(href);
			const label = escapeHtml(text || 'image');
			if (!url) return label;
			return `<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer nofollow">${label}</a>`;
		}
	}
});

/**
 * Markdown to HTML that is safe to inject: raw HTML is escaped, links keep only safe URLs and
 * fenced code is highlighted. Works on partial (streaming) input too.
 */
export function renderMarkdown(markdown: string): string {
	return marked.parse(markdown, { async: false });
}
