import { Agent, fetch as undiciFetch } from 'undici';
import { grantAdminRole } from './users';

/**
 * A tiny HTTP client with a cookie jar, so tests talk to the app the way a browser without
 * JavaScript does: plain form posts, redirects not followed, cookies kept.
 */
export class HttpClient {
	private cookies = new Map<string, string>();

	private readonly agent: Agent | undefined;

	/**
	 * `localAddress` (e.g. `127.0.0.7`) binds the client's sockets to that loopback address, so
	 * the server sees a distinct client address (`event.getClientAddress()`): how the throttling
	 * tests play several real clients on one machine.
	 */
	constructor(
		readonly baseUrl: string,
		options: { localAddress?: string } = {}
	) {
		this.agent = options.localAddress
			? // undici 7 takes localAddress on the Agent itself; inside `connect` it is ignored.
				new Agent({ localAddress: options.localAddress })
			: undefined;
	}

	async request(path: string, init: RequestInit = {}): Promise<Response> {
		const headers = new Headers(init.headers);
		headers.set('origin', this.baseUrl);
		if (this.cookies.size) {
			headers.set('cookie', this.cookieHeader());
		}
		const response = this.agent
			? ((await undiciFetch(this.baseUrl + path, {
					...(init as Parameters<typeof undiciFetch>[1]),
					headers,
					redirect: 'manual',
					dispatcher: this.agent
				})) as unknown as Response)
			: await fetch(this.baseUrl + path, { ...init, headers, redirect: 'manual' });
		for (const cookie of response.headers.getSetCookie()) {
			const [pair, ...attributes] = cookie.split(';');
			const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
			const expired = attributes.some((a) => /max-age=0\b/i.test(a.trim()));
			if (expired || value === '') this.cookies.delete(name.trim());
			else this.cookies.set(name.trim(), value);
		}
		return response;
	}

	/** The Cookie header this client sends, for requests made with another HTTP stack (raw HTTP). */
	cookieHeader(): string {
		return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
	}

	get(path: string) {
		return this.request(path);
	}

	/** Submits a form the way a browser without JavaScript does. */
	postForm(path: string, fields: Record<string, string>) {
		return this.request(path, {
			method: 'POST',
			headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
			body: new URLSearchParams(fields).toString()
		});
	}

	/** Puts a cookie in the jar as if the server had set it (a copied or forged cookie). */
	setCookie(name: string, value: string): void {
		this.cookies.set(name, value);
	}

	hasSession(): boolean {
		return [...this.cookies.keys()].some((name) => name.endsWith('session_token'));
	}
}

/** A new account, signed in: its client and user id (a form sign-up, as without JavaScript). */
export async function signUp(
	baseUrl: string,
	email: string,
	name = 'Test user'
): Promise<{ client: HttpClient; userId: string }> {
	const client = new HttpClient(baseUrl);
	const response = await client.postForm('/signup', { name, email, password: 'correct horse' });
	if (response.status !== 303 || !client.hasSession()) {
		throw new Error(`Sign-up of ${email} failed with ${response.status}: ${await response.text()}`);
	}
	const { userId } = await (await client.get('/api/credits')).json();
	return { client, userId };
}

/** A new account made an admin (as `npm run admin:grant` does), signed in. */
export async function signUpAdmin(
	app: { url: string; databaseUrl: string },
	email: string,
	name = 'Admin'
): Promise<{ client: HttpClient; userId: string }> {
	const account = await signUp(app.url, email, name);
	await grantAdminRole(app.databaseUrl, email);
	return account;
}
