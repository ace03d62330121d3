import { describe, expect, it } from 'vitest';
import { areaOf, isApiPath, TOKEN_GUARDED_PATHS } from './access';

describe('areaOf', () => {
	it.each([
		['/admin', null],
		['/admin/webhooks', '/(admin)/admin/webhooks'],
		['/admin/webhooks/__data.json', '/(admin)/admin/webhooks'],
		['/api/admin/users', null],
		['/%61dmin/webhooks', null],
		['//admin//webhooks', null],
		['/ADMIN', null],
		// The matched route alone is enough, whatever the path looked like.
		['/something-else', '/(admin)/admin/webhooks']
	])('%s (route %s) is for admins', (path, route) => {
		expect(areaOf(path, route)).toBe('admin');
	});

	it.each([
		['/dashboard', '/(app)/dashboard'],
		['/dashboard/chat/abc/__data.json', '/(app)/dashboard/chat/[id]'],
		['/api/chat', '/api/chat'],
		['/api/credits/transactions', null],
		['/api/unknown', null]
	])('%s is for signed-in users', (path, route) => {
		expect(areaOf(path, route)).toBe('user');
	});

	it.each([
		['/', '/(marketing)'],
		['/login', '/(auth)/login'],
		['/api/health', '/api/health'],
		['/api/auth/sign-in/email', null],
		['/api/webhooks/polar', '/api/webhooks/polar'],
		// Its own bearer token guards it (routes/metrics); no session redirect for scrapers.
		['/metrics', '/metrics'],
		['/administrator', null],
		['/dashboards', null],
		['/bad%escape', null]
	])('%s is public', (path, route) => {
		expect(areaOf(path, route)).toBe('public');
	});
});

describe('TOKEN_GUARDED_PATHS', () => {
	it('are outside every session area: their token, not a sign-in, guards them', () => {
		for (const path of TOKEN_GUARDED_PATHS) expect(areaOf(path, path)).toBe('public');
	});
});

describe('isApiPath', () => {
	it('knows API paths from pages', () => {
		expect(isApiPath('/api/chat')).toBe(true);
		expect(isApiPath('/api')).toBe(true);
		expect(isApiPath('/apis')).toBe(false);
		expect(isApiPath('/dashboard')).toBe(false);
	});
});
