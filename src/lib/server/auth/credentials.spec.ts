import { describe, expect, it } from 'vitest';
import {
	changePasswordSchema,
	displayNameSchema,
	fieldErrors,
	signInSchema,
	signUpSchema
} from './credentials';

describe('auth form schemas', () => {
	it('normalises the email', () => {
		const parsed = signUpSchema.parse({ email: '  Ada@Example.COM ', password: '12345678' });
		expect(parsed).toEqual({ name: '', email: 'ada@example.com', password: '12345678' });
	});

	it('reports one message per field', () => {
		const result = signUpSchema.safeParse({ email: 'nope', password: 'short' });
		expect(result.success).toBe(false);
		expect(fieldErrors(result.error!)).toEqual({
			email: 'Enter a valid email address.',
			password: 'Use at least 8 characters for the password.'
		});
	});

	it('rejects non-text values such as uploaded files', () => {
		const result = signInSchema.safeParse({ email: new Blob(['x']), password: 'x' });
		expect(result.success).toBe(false);
	});
});

describe('settings schemas', () => {
	it('trims a display name and refuses a blank or overlong one', () => {
		expect(displayNameSchema.parse('  Ada  ')).toBe('Ada');
		expect(displayNameSchema.safeParse('   ').error?.issues[0].message).toBe('Enter a name.');
		expect(displayNameSchema.safeParse('x'.repeat(101)).success).toBe(false);
		expect(displayNameSchema.safeParse('x'.repeat(100)).success).toBe(true);
	});

	it('bounds the new password like sign-up and checks the confirmation when sent', () => {
		const ok = { currentPassword: 'old', newPassword: 'new password' };
		expect(changePasswordSchema.safeParse(ok).success).toBe(true);
		expect(changePasswordSchema.safeParse({ ...ok, confirmPassword: ok.newPassword }).success).toBe(
			true
		);
		const differs = changePasswordSchema.safeParse({ ...ok, confirmPassword: 'other password' });
		expect(fieldErrors(differs.error!)).toEqual({
			confirmPassword: 'The two passwords are not the same.'
		});
		const bad = changePasswordSchema.safeParse({
			currentPassword: '',
			newPassword: 'short'
		});
		expect(fieldErrors(bad.error!)).toEqual({
			currentPassword: 'Enter your current password.',
			newPassword: 'Use at least 8 characters for the password.'
		});
		expect(changePasswordSchema.safeParse({ ...ok, newPassword: 'x'.repeat(129) }).success).toBe(
			false
		);
	});
});
