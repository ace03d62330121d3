import type { Handle } from '@sveltejs/kit';

/**
 * The request header better-auth reads a session's IP address from. better-auth would otherwise
 * trust `X-Forwarded-For` as the client sent it, so the settings page would show whatever a
 * client claimed; this hook overwrites the header with `event.getClientAddress()` (the socket,
 * or the proxy header the operator configured) before better-auth sees the request.
 */
export const CLIENT_ADDRESS_HEADER = 'x-credit-chat-client-address';

export const clientAddress: Handle = ({ event, resolve }) => {
	try {
		event.request.headers.set(CLIENT_ADDRESS_HEADER, event.getClientAddress());
	} catch {
		// ADDRESS_HEADER is set but this request lacks it (say, a load balancer's health check):
		// no address is recorded rather than one the client chose.
		event.request.headers.delete(CLIENT_ADDRESS_HEADER);
	}
	return resolve(event);
};
