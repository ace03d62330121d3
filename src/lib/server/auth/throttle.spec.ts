import { describe, expect, it } from 'vitest';
import { addressBucket, waitMessage } from './throttle';

describe('addressBucket', () => {
	it.each([
		['203.0.113.7', '203.0.113.7'],
		['::ffff:203.0.113.7', '203.0.113.7'],
		['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
		['2001:db8:1:2::9', '2001:db8:1:2::/64'],
		['2001:0db8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
		['2001:db8::1', '2001:db8:0:0::/64'],
		['::1', '0:0:0:0::/64'],
		['fe80::1%eth0', 'fe80:0:0:0::/64']
	])('%s -> %s', (address, bucket) => {
		expect(addressBucket(address)).toBe(bucket);
	});

	it('puts two addresses of one /64 in one bucket and another /64 apart', () => {
		expect(addressBucket('2001:db8:a:b::1')).toBe(addressBucket('2001:db8:a:b:ffff:1:2:3'));
		expect(addressBucket('2001:db8:a:b::1')).not.toBe(addressBucket('2001:db8:a:c::1'));
	});
});

describe('waitMessage', () => {
	it('says seconds, then minutes', () => {
		expect(waitMessage(1)).toBe('Too many attempts. Please wait 1 second and try again.');
		expect(waitMessage(42)).toBe('Too many attempts. Please wait 42 seconds and try again.');
		expect(waitMessage(900)).toBe('Too many attempts. Please wait 15 minutes and try again.');
	});
});
