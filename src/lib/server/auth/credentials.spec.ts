import { describe, expect, it } from 'vitest';
import { fieldErrors, signInSchema, signUpSchema } from './credentials';

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
