import { describe, expect, it } from 'vitest';
import { readConfig, StartupError } from './config';

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
		expect(() => readConfig({ SIGNUP_BONUS_DAYS: 'soon' })).toThrow(StartupError);
		expect(() => readConfig({ SIGNUP_BONUS_CREDITS: '-3' })).toThrow(/SIGNUP_BONUS_CREDITS/);
	});
});
