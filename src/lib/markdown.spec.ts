import { describe, expect, it } from 'vitest';
import { escapeHtml, renderMarkdown, safeUrl } from './markdown';

/** Every tag name the HTML contains, lower-cased. */
function tags(html: string): string[] {
	return [...html.matchAll(/<([a-z][a-z0-9]*)/gi)].map((m) => m[1].toLowerCase());
}

/** Every attribute name the HTML contains, lower-cased. */
function attributes(html: string): string[] {
	return [...html.matchAll(/<[a-z][^>]*>/gi)].flatMap((tag) =>
		[...tag[0].matchAll(/\s([a-z-]+)(?==)/gi)].map((m) => m[1].toLowerCase())
	);
}

const ALLOWED_TAGS = new Set([
	'p',
	'a',
	'code',
	'pre',
	'span',
	'div',
	'button',
	'strong',
	'em',
	'ul',
	'ol',
	'li',
	'table',
	'thead',
	'tbody',
	'tr',
	'th',
	'td',
	'blockquote',
	'h1',
	'h2',
	'h3',
	'h4',
	'h5',
	'h6',
	'hr',
	'br',
	'del',
	'input'
]);

describe('renderMarkdown', () => {
	it('renders ordinary markdown', () => {
		const html = renderMarkdown('# Title\n\nSome **bold**, _em_ and `code`.\n\n- one\n- two');
		expect(html).toContain('<h1>Title</h1>');
		expect(html).toContain('<strong>bold</strong>');
		expect(html).toContain('<em>em</em>');
		expect(html).toContain('<code>code</code>');
		expect(html).toContain('<li>one</li>');
	});

	it('escapes a <script> tag instead of injecting it', () => {
		const html = renderMarkdown('Hello <script>alert(1)</script> world');
		expect(html).not.toContain('<script');
		expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
	});

	it('escapes a block of raw HTML', () => {
		const html = renderMarkdown('<script>\nfetch("/steal")\n</script>\n\nafter');
		expect(tags(html)).not.toContain('script');
		expect(html).toContain('&lt;script&gt;');
	});

	it('keeps an <img onerror> inert', () => {
		const html = renderMarkdown('look <img src=x onerror="alert(1)"> here');
		expect(tags(html)).not.toContain('img');
		expect(attributes(html)).not.toContain('onerror');
		expect(html).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;');
	});

	it('escapes raw HTML inside table cells and list items', () => {
		const html = renderMarkdown(
			'| a | b |\n|---|---|\n| <iframe src=x> | <svg onload=alert(1)> |\n\n- <b onmouseover=x>hi</b>'
		);
		expect(tags(html).filter((t) => !ALLOWED_TAGS.has(t))).toEqual([]);
		expect(attributes(html).filter((a) => a.startsWith('on'))).toEqual([]);
	});

	it('renders a javascript: link as plain text', () => {
		const html = renderMarkdown('[click me](javascript:alert(1))');
		expect(html).toBe('<p>click me</p>\n');
	});

	it('refuses javascript:, data: and vbscript: in every link form', () => {
		const inputs = [
			'[a](JavaScript:alert(1))',
			'[a](  javascript:alert(1)  )',
			'<javascript:alert(1)>',
			'[a][r]\n\n[r]: javascript:alert(1)',
			'[a](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
			'[a](vbscript:msgbox(1))',
			'![pic](javascript:alert(1))'
		];
		for (const input of inputs) {
			const html = renderMarkdown(input);
			expect(html, input).not.toMatch(/href="\s*(javascript|data|vbscript):/i);
			expect(html, input).not.toContain('<img');
		}
	});

	it('keeps http(s), mailto and relative links, opening web links in a new tab', () => {
		const html = renderMarkdown(
			'[web](https://example.com/a?b=1&c=2) [mail](mailto:ada@example.com) [rel](/dashboard/credits)'
		);
		expect(html).toContain(
			'<a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer nofollow">web</a>'
		);
		expect(html).toContain('<a href="mailto:ada@example.com">mail</a>');
		expect(html).toContain('href="/dashboard/credits"');
	});

	it('cannot break out of an attribute', () => {
		const html = renderMarkdown('[x](https://example.com/"onmouseover="alert(1) "a"title")');
		expect(attributes(html)).not.toContain('onmouseover');
	});

	it('renders images as links, never loading them', () => {
		const html = renderMarkdown('![a cat](https://example.com/cat.png)');
		expect(tags(html)).not.toContain('img');
		expect(html).toContain('href="https://example.com/cat.png"');
		expect(html).toContain('>a cat</a>');
	});

	it('highlights fenced code in a known language', () => {
		const html = renderMarkdown('```ts\nconst n: number = 1; // <b>\n```');
		expect(html).toContain('<code class="hljs language-ts">');
		expect(html).toContain('<span class="hljs-keyword">const</span>');
		expect(html).toContain('&lt;b&gt;');
		expect(html).toContain('data-copy-code');
	});

	it('escapes code in an unknown language and a hostile language name', () => {
		const html = renderMarkdown(
			'```"><script>alert(1)</script>\n<img src=x onerror=alert(1)>\n```'
		);
		expect(tags(html)).not.toContain('script');
		expect(tags(html)).not.toContain('img');
		expect(html).toContain('<code class="hljs">&lt;img src=x onerror=alert(1)&gt;</code>');
	});

	it('renders an unfinished (still streaming) code fence', () => {
		const html = renderMarkdown('Here:\n\n```python\ndef f():\n    return 1');
		expect(html).toContain('language-python');
		expect(html).toContain('<span class="hljs-keyword">def</span>');
	});
});

describe('safeUrl', () => {
	it('accepts web, mail and relative URLs', () => {
		expect(safeUrl('https://example.com')).toBe('https://example.com');
		expect(safeUrl('HTTP://example.com')).toBe('HTTP://example.com');
		expect(safeUrl('mailto:a@b.c')).toBe('mailto:a@b.c');
		expect(safeUrl('/a/b?c=d:e')).toBe('/a/b?c=d:e');
		expect(safeUrl('#top')).toBe('#top');
		expect(safeUrl('page.html')).toBe('page.html');
	});

	it('refuses other schemes, also when hidden by whitespace or control characters', () => {
		for (const url of [
			'javascript:alert(1)',
			' javascript:alert(1)',
			'java\tscript:alert(1)',
			'java\nscript:alert(1)',
			'\u0001javascript:alert(1)',
			'data:text/html,x',
			'vbscript:x',
			'file:///etc/passwd',
			''
		]) {
			expect(safeUrl(url), JSON.stringify(url)).toBeNull();
		}
	});
});

describe('escapeHtml', () => {
	it('escapes the five HTML-special characters', () => {
		expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
			'&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;'
		);
	});
});
