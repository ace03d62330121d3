/**
 * A program the tests or benchmarks need (PostgreSQL, Chromium) could not start. Its message is
 * one line: what failed, why (the underlying error) and what to do. The stack is that same line,
 * because where in our helper it was thrown helps no one; Vitest and the benchmark harness print
 * just the line.
 */
export class TestDependencyError extends Error {
	constructor(what: string, why: string, todo: string) {
		super(`${what} could not start: ${oneLine(why)}. What to do: ${oneLine(todo)}.`);
		this.name = 'TestDependencyError';
		this.stack = `${this.name}: ${this.message}`;
	}
}

/** Collapses a multi-line process output into one line without a trailing full stop. */
export function oneLine(text: string): string {
	return text
		.replace(/\s+/g, ' ')
		.trim()
		.replace(/[.\s]+$/, '');
}
