import type { SubmitFunction } from '@sveltejs/kit';

/**
 * A form's busy state for `use:enhance`: pending from submit until the answer is shown, and the
 * fields keep what was typed (an inline error should not wipe the form).
 */
export class PendingForm {
	pending = $state(false);

	enhance: SubmitFunction = () => {
		this.pending = true;
		return async ({ update }) => {
			await update({ reset: false });
			this.pending = false;
		};
	};
}
