import type { SubmitFunction } from '@sveltejs/kit';

/**
 * A form's busy state for `use:enhance`: pending from submit until the answer is shown. By default
 * the fields keep what was typed (an inline error should not wipe the form); `reset: true` clears
 * them after a success, for forms such as a password change.
 */
export class PendingForm {
	pending = $state(false);

	constructor(private readonly options: { reset?: boolean } = {}) {}

	enhance: SubmitFunction = () => {
		this.pending = true;
		return async ({ update }) => {
			await update({ reset: this.options.reset ?? false });
			this.pending = false;
		};
	};
}
