import type { Db } from '../db/client';
import { AppError } from '../errors';
import { customerPortalUrl, startCheckout } from './checkout';
import { openCheckout } from './open-checkout';
import type { BillingContext } from './context';
import type { BillingMode } from './mode';
import { signedTestCheckout } from './test-mode';
import { handlePolarWebhook } from './webhook';

export const CHECKOUT_SUCCESS_PATH = '/dashboard/credits?checkout=success';

/**
 * "Buy" on the buy page. With Polar: the checkout URL to send the buyer to. In test mode: the
 * purchase is completed at once through the webhook handler (a signed `order.paid`) and the
 * buyer goes straight to the credits page.
 */
export async function startPurchase(
	db: Db,
	billing: BillingContext,
	input: { user: { id: string; email: string; name: string }; productId: string; origin: string }
): Promise<string> {
	if (billing.mode === 'off') {
		// Asking for what this server does not offer is a client mistake (409), not an outage.
		throw new AppError(409, 'payments_off', 'Purchases are not available on this server.');
	}
	const { items } = await billing.catalog();
	const product = items.find((item) => item.productId === input.productId);
	if (!product) {
		throw new AppError(
			400,
			'unknown_product',
			'That pack is not on offer any more. Please pick one from the list.'
		);
	}
	if (billing.polar) {
		const polar = billing.polar;
		return openCheckout(db, { userId: input.user.id, productId: product.productId }, () =>
			startCheckout(polar, { user: input.user, product, origin: input.origin })
		);
	}
	const checkout = signedTestCheckout({ user: input.user, product, secret: billing.webhookSecret });
	for (const delivery of checkout.deliveries) {
		const result = await handlePolarWebhook(db, delivery, billing.webhookSecret);
		if (result.status >= 300) {
			throw new Error(
				`Test-mode delivery was refused by the webhook handler: ${JSON.stringify(result)}`
			);
		}
	}
	return CHECKOUT_SUCCESS_PATH;
}

export type PortalOutcome =
	| { kind: 'redirect'; url: string }
	| { kind: 'no-purchases' }
	| { kind: 'not-available'; mode: BillingMode };

/** "Manage billing": Polar's customer portal, when there is one for this user. */
export async function openBillingPortal(
	billing: BillingContext,
	input: { userId: string; origin: string }
): Promise<PortalOutcome> {
	if (!billing.polar) return { kind: 'not-available', mode: billing.mode };
	const url = await customerPortalUrl(billing.polar, input);
	return url ? { kind: 'redirect', url } : { kind: 'no-purchases' };
}
