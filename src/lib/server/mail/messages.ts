import { escapeHtml } from '../../escape-html';
import type { MailMessage } from './mailer';

/** The emails the app sends about an account. Plain text first; the HTML says the same. */

interface Recipient {
	email: string;
	name: string;
}

export function verificationEmail(to: Recipient, link: string): MailMessage {
	return message(to, 'Confirm your email for credit-chat', [
		`Hi ${to.name},`,
		'Confirm your email address to start chatting. This link signs you in; it is valid for 1 hour:',
		{ link, label: 'Confirm my email' },
		'If you did not create a credit-chat account, ignore this message: nothing happens without the link.'
	]);
}

export function passwordResetEmail(to: Recipient, link: string): MailMessage {
	return message(to, 'Reset your credit-chat password', [
		`Hi ${to.name},`,
		'Someone (hopefully you) asked to reset the password of this account. Choose a new one here; the link works once, for 1 hour:',
		{ link, label: 'Choose a new password' },
		'Setting a new password signs the account out everywhere. If you did not ask, ignore this message: your password stays as it is.'
	]);
}

/** Sent instead of a second account when someone signs up with a registered address. */
export function accountExistsEmail(
	to: Recipient,
	links: { signIn: string; reset: string }
): MailMessage {
	return message(to, 'You already have a credit-chat account', [
		`Hi ${to.name},`,
		'Someone tried to create a credit-chat account with this email address, which already has one. If it was you, sign in:',
		{ link: links.signIn, label: 'Sign in' },
		'Forgot your password? Choose a new one:',
		{ link: links.reset, label: 'Reset my password' },
		'If it was not you, ignore this message: nothing has changed.'
	]);
}

type Part = string | { link: string; label: string };

function message(to: Recipient, subject: string, parts: Part[]): MailMessage {
	const text = parts.map((part) => (typeof part === 'string' ? part : part.link)).join('\n\n');
	const body = parts
		.map((part) =>
			typeof part === 'string'
				? `<p>${escapeHtml(part)}</p>`
				: `<p><a href="${escapeHtml(part.link)}" style="display:inline-block;padding:10px 16px;border-radius:8px;background:#4f46e5;color:#ffffff;text-decoration:none;font-weight:600">${escapeHtml(part.label)}</a></p><p style="font-size:12px;color:#52525b">Or paste this address into your browser: ${escapeHtml(part.link)}</p>`
		)
		.join('\n');
	const html = `<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5;color:#18181b;max-width:560px">${body}<p style="font-size:12px;color:#52525b">credit-chat</p></body></html>`;
	return { to: to.email, subject, text: `${text}\n\n— credit-chat\n`, html };
}

/** The low-balance alert: available credits fell below the threshold the user set. */
export function lowBalanceEmail(
	to: Recipient,
	alert: { available: number; threshold: number },
	links: { buy: string; settings: string }
): MailMessage {
	const credits = (n: number) => `${n.toLocaleString('en')} ${n === 1 ? 'credit' : 'credits'}`;
	return message(to, `Your credit-chat balance is below ${credits(alert.threshold)}`, [
		`Hi ${to.name},`,
		`You have ${credits(alert.available)} available, below the ${credits(alert.threshold)} you asked us to warn you about. Buy credits or choose a plan to keep chatting:`,
		{ link: links.buy, label: 'Buy credits' },
		'We tell you once each time your credits fall below it. Change or turn off this alert in your settings:',
		{ link: links.settings, label: 'Alert settings' }
	]);
}
