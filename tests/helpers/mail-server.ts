import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
	to: string;
	subject: string;
	text: string;
	html: string;
}

export interface MailServer {
	/** `smtp://127.0.0.1:<port>`, for the app's SMTP_URL. */
	url: string;
	/** Every message received so far, oldest first. */
	messages: ReceivedMail[];
	/** The next message to `to` (whose subject matches), waiting up to `timeoutMs` for it. */
	waitFor(to: string, subject?: RegExp, timeoutMs?: number): Promise<ReceivedMail>;
	/** Messages to `to` so far. */
	to(to: string): ReceivedMail[];
	close(): Promise<void>;
}

/**
 * A real SMTP server (smtp-server from npm) on a free loopback port: the app delivers to it with
 * nodemailer as it would to a mail provider, and the tests read the links out of what arrives.
 */
export async function startMailServer(): Promise<MailServer> {
	const messages: ReceivedMail[] = [];
	const taken = new Set<ReceivedMail>();
	const server = new SMTPServer({
		authOptional: true,
		disabledCommands: ['STARTTLS'],
		logger: false,
		onData(stream, _session, callback) {
			simpleParser(stream)
				.then((mail) => {
					messages.push(received(mail));
					callback();
				})
				.catch(callback);
		}
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.server.address() as { port: number };

	const toOf = (address: string) => messages.filter((m) => m.to === address.toLowerCase());
	return {
		url: `smtp://127.0.0.1:${port}`,
		messages,
		to: toOf,
		async waitFor(to, subject, timeoutMs = 10_000) {
			const deadline = Date.now() + timeoutMs;
			for (;;) {
				const found = toOf(to).find((m) => !taken.has(m) && (!subject || subject.test(m.subject)));
				if (found) {
					taken.add(found);
					return found;
				}
				if (Date.now() > deadline) {
					const seen = toOf(to).map((m) => m.subject);
					throw new Error(
						`No mail to ${to} matching ${subject} within ${timeoutMs} ms (got: ${seen.join(' | ') || 'none'})`
					);
				}
				await new Promise((resolve) => setTimeout(resolve, 50));
			}
		},
		close: () => new Promise((resolve) => server.close(() => resolve()))
	};
}

/** The first link in a message's text that goes to `path` on any origin. */
export function linkTo(mail: ReceivedMail, path: string): URL {
	for (const match of mail.text.matchAll(/https?:\/\/\S+/g)) {
		const url = new URL(match[0]);
		if (url.pathname === path) return url;
	}
	throw new Error(`No link to ${path} in "${mail.subject}":\n${mail.text}`);
}

function received(mail: ParsedMail): ReceivedMail {
	const to = Array.isArray(mail.to) ? mail.to[0] : mail.to;
	return {
		to: (to?.value[0]?.address ?? '').toLowerCase(),
		subject: mail.subject ?? '',
		text: mail.text ?? '',
		html: typeof mail.html === 'string' ? mail.html : ''
	};
}
