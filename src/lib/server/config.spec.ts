import { describe, expect, it } from 'vitest';
import { parseChatModels, readConfig, StartupError } from './config';

describe('readConfig', () => {
	it('defaults to the embedded database in .data', () => {
		const config = readConfig({});
		expect(config.databaseUrl).toBeUndefined();
		expect(config.dataDir).toBe('.data');
		expect(config.migrationsDir).toBe('drizzle');
		expect(config.adminEmails.size).toBe(0);
	});

	it('treats an empty DATABASE_URL as unset', () => {
		expect(readConfig({ DATABASE_URL: '  ' }).databaseUrl).toBeUndefined();
	});

	it('reads admin emails separated by commas, spaces or semicolons, lower-cased', () => {
		const config = readConfig({ ADMIN_EMAILS: 'A@x.io, b@y.io;c@z.io  d@w.io,' });
		expect([...config.adminEmails]).toEqual(['a@x.io', 'b@y.io', 'c@z.io', 'd@w.io']);
	});

	it('uses ORIGIN as the auth URL unless BETTER_AUTH_URL is set', () => {
		expect(readConfig({ ORIGIN: 'https://a.example' }).authUrl).toBe('https://a.example');
		expect(
			readConfig({ ORIGIN: 'https://a.example', BETTER_AUTH_URL: 'https://b.example' }).authUrl
		).toBe('https://b.example');
	});

	it('gives new users 8 credits for 30 days and sweeps every minute by default', () => {
		const config = readConfig({});
		expect(config.signupBonus).toEqual({ credits: 8, days: 30 });
		expect(config.sweepIntervalSeconds).toBe(60);
		expect(readConfig({ SIGNUP_BONUS_CREDITS: '0', SIGNUP_BONUS_DAYS: '' }).signupBonus).toEqual({
			credits: 0,
			days: 30
		});
	});

	it('stops the server on a malformed number, naming the variable', () => {
		expect(readConfig({}).freeMonthlyCredits).toBe(0);
		expect(readConfig({ FREE_MONTHLY_CREDITS: '50' }).freeMonthlyCredits).toBe(50);
		expect(() => readConfig({ FREE_MONTHLY_CREDITS: '-5' })).toThrow(StartupError);
		expect(() => readConfig({ FREE_MONTHLY_CREDITS: 'lots' })).toThrow(StartupError);
		expect(() => readConfig({ SIGNUP_BONUS_DAYS: 'soon' })).toThrow(StartupError);
		expect(() => readConfig({ SIGNUP_BONUS_CREDITS: '-3' })).toThrow(/SIGNUP_BONUS_CREDITS/);
	});

	it('gives a membership 200,000 fair-use tokens a day unless MEMBERSHIP_DAILY_TOKENS says otherwise', () => {
		expect(readConfig({}).chat.membershipDailyTokens).toBe(200_000);
		expect(readConfig({ MEMBERSHIP_DAILY_TOKENS: '500' }).chat.membershipDailyTokens).toBe(500);
		expect(readConfig({ MEMBERSHIP_DAILY_TOKENS: '' }).chat.membershipDailyTokens).toBe(200_000);
		expect(() => readConfig({ MEMBERSHIP_DAILY_TOKENS: '-1' })).toThrow(/MEMBERSHIP_DAILY_TOKENS/);
		expect(() => readConfig({ MEMBERSHIP_DAILY_TOKENS: '1.5' })).toThrow(/MEMBERSHIP_DAILY_TOKENS/);
		expect(() => readConfig({ MEMBERSHIP_DAILY_TOKENS: '1e12' })).toThrow(
			/MEMBERSHIP_DAILY_TOKENS/
		);
	});

	it('keeps mail in .data/mail and asks for no verification without SMTP_URL', () => {
		const config = readConfig({});
		expect(config.mail).toEqual({
			smtpUrl: undefined,
			from: 'credit-chat <no-reply@localhost>',
			outboxDir: '.data/mail'
		});
		expect(config.emailVerification).toBe('off');
		expect(config.authLimits.emailsPerHour).toBe(5);
	});

	it('requires verified email once a mail server is configured, unless told otherwise', () => {
		const smtp = { SMTP_URL: 'smtps://user:secret@mail.example.com:465' };
		expect(readConfig(smtp).emailVerification).toBe('required');
		expect(readConfig({ ...smtp, EMAIL_VERIFICATION: 'optional' }).emailVerification).toBe(
			'optional'
		);
		expect(readConfig({ EMAIL_VERIFICATION: 'required' }).emailVerification).toBe('required');
		expect(() => readConfig({ EMAIL_VERIFICATION: 'sometimes' })).toThrow(/EMAIL_VERIFICATION/);
	});

	it('accepts only smtp:// and smtps:// mail servers', () => {
		expect(readConfig({ SMTP_URL: 'smtp://localhost:1025' }).mail.smtpUrl).toBe(
			'smtp://localhost:1025'
		);
		expect(() => readConfig({ SMTP_URL: 'https://mail.example.com' })).toThrow(/SMTP_URL/);
		expect(() => readConfig({ SMTP_URL: 'mail.example.com' })).toThrow(/SMTP_URL/);
	});

	it('uses the demo model without an API key or base URL', () => {
		expect(readConfig({}).chat.upstream).toBeNull();
		expect(readConfig({ OPENAI_API_KEY: '' }).chat.upstream).toBeNull();
	});

	it('picks the API style: Responses for OpenAI, Chat Completions for a custom base URL', () => {
		expect(readConfig({ OPENAI_API_KEY: 'sk-1' }).chat.upstream).toEqual({
			apiKey: 'sk-1',
			baseURL: undefined,
			style: 'responses'
		});
		expect(readConfig({ OPENAI_BASE_URL: 'http://localhost:11434/v1' }).chat.upstream).toEqual({
			apiKey: 'not-needed',
			baseURL: 'http://localhost:11434/v1',
			style: 'chat'
		});
		expect(
			readConfig({
				OPENAI_API_KEY: 'k',
				OPENAI_BASE_URL: 'http://h/v1',
				OPENAI_API_STYLE: 'responses'
			}).chat.upstream?.style
		).toBe('responses');
		expect(() => readConfig({ OPENAI_API_STYLE: 'soap' })).toThrow(StartupError);
	});

	it('parses CHAT_MODELS as id:rate pairs', () => {
		expect(readConfig({}).chat.models).toEqual([{ id: 'gpt-4o-mini', rate: 1 }]);
		expect(parseChatModels('gpt-4o-mini:1, gpt-4o:10,llama3.1:8b:0.5,plain,qwen3:4b')).toEqual([
			{ id: 'gpt-4o-mini', rate: 1 },
			{ id: 'gpt-4o', rate: 10 },
			{ id: 'llama3.1:8b', rate: 0.5 },
			{ id: 'plain', rate: 1 },
			{ id: 'qwen3:4b', rate: 1 }
		]);
		expect(() => parseChatModels('a:0')).toThrow(StartupError);
		expect(() => parseChatModels(' , ')).toThrow(StartupError);
	});
});
