import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type { MailConfig } from '../config';
import { log } from '../log';

export interface MailMessage {
	to: string;
	subject: string;
	text: string;
	html: string;
}

export interface Mailer {
	/** `smtp` delivers through SMTP_URL; `outbox` prints and keeps messages (development). */
	readonly kind: 'smtp' | 'outbox';
	/** Sends one message; rejects when the server refuses it. */
	send(message: MailMessage): Promise<void>;
}

/**
 * Email through nodemailer: to the SMTP server at `SMTP_URL`, or — without one — rendered by
 * nodemailer all the same, printed to the console and kept as `.eml` files in `.data/mail/`, so
 * the quick start works offline and the links can be clicked from the terminal.
 */
export function createMailer(config: MailConfig): Mailer {
	if (config.smtpUrl) {
		const transport = nodemailer.createTransport(config.smtpUrl);
		return {
			kind: 'smtp',
			async send(message) {
				await transport.sendMail({ from: config.from, ...message });
			}
		};
	}
	const transport = nodemailer.createTransport({ streamTransport: true, buffer: true });
	return {
		kind: 'outbox',
		async send(message) {
			const info = await transport.sendMail({ from: config.from, ...message });
			await mkdir(config.outboxDir, { recursive: true });
			const file = join(config.outboxDir, outboxFileName(message.to));
			await writeFile(file, info.message as Buffer);
			log.info(
				`[mail] (no SMTP_URL) to ${message.to}: ${message.subject} — kept in ${file}\n${message.text}`
			);
		}
	};
}

/** `2026-11-29T09-04-10-123Z-ada-example.com.eml`: sorted by time, named for the recipient. */
export function outboxFileName(to: string, now = new Date()): string {
	const stamp = now.toISOString().replace(/[:.]/g, '-');
	const who = to
		.toLowerCase()
		.replace(/[^a-z0-9.]+/g, '-')
		.slice(0, 60);
	return `${stamp}-${who}.eml`;
}

/**
 * Sends without making the caller wait or fail: for mail a stranger triggers (sign-up, password
 * reset), where the answer must not depend on whether a message went out — or how long it took.
 */
export function sendInBackground(mailer: Mailer, message: MailMessage): void {
	mailer.send(message).catch((error: unknown) => {
		log.error({ err: error }, `[mail] could not send "${message.subject}" to ${message.to}`);
	});
}
