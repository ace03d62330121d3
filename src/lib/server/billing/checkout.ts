import { PolarClientError, PolarError } from '@polar-sh/sdk';
import { AppError } from '../errors';
import type { CatalogItem } from './catalog';
import type { Polar } from './polar';
import { log } from '../log';

/** Polar answered with an error or not at all: the user sees a friendly 502, the log the cause. */
function polarFailed(action: string, error: unknown): never {
	if (error instanceof PolarError) {
		log.error(`Polar ${action} failed: ${error.message}`);
		throw new AppError(
			502,
			'payment_provider_unavailable',
			`Our payment provider could not ${action} just now. Please try again in a minute.`
		);
	}
	throw error;
}

/**
 * Creates a Polar checkout for one catalog product. The buyer is our user id
 * (`external_customer_id`), which is how the `order.paid` webhook finds whom to credit.
 */
export async function startCheckout(
	polar: Polar,
	input: { user: { id: string; email: string; name: string }; product: CatalogItem; origin: string }
): Promise<string> {
	try {
		const checkout = await polar.checkouts.create({
			products: [input.product.productId],
			external_customer_id: input.user.id,
			customer_email: input.user.email,
			customer_name: input.user.name || null,
			success_url: `${input.origin}/dashboard/credits?checkout=success`,
			return_url: `${input.origin}/dashboard/buy`,
			metadata: { user_id: input.user.id }
		});
		return checkout.url;
	} catch (error) {
		polarFailed('start the checkout', error);
	}
}

/**
 * The Polar customer portal (orders, invoices, subscriptions) for this user, or null when the
 * user has never bought anything (Polar knows no customer with that external id yet).
 */
export async function customerPortalUrl(
	polar: Polar,
	input: { userId: string; origin: string }
): Promise<string | null> {
	try {
		const session = await polar.customerSessions.create({
			external_customer_id: input.userId,
			return_url: `${input.origin}/dashboard/credits`
		});
		return session.customer_portal_url;
	} catch (error) {
		if (error instanceof PolarClientError && [404, 422].includes(error.statusCode)) {
			return null;
		}
		polarFailed('open the billing portal', error);
	}
}
