import { describe, expect, it } from 'vitest';
import {
  addressSubject,
  clientAddress,
  createTrustedProxies,
  isAddressOrCidr,
  normalizeAddress,
} from '../../src/domain/client-address.js';

const none = createTrustedProxies([]);
const proxies = createTrustedProxies(['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);

describe('clientAddress', () => {
  it('is the socket peer when no proxy is trusted, whatever X-Forwarded-For says', () => {
    expect(clientAddress({ remoteAddress: '203.0.113.5', forwardedFor: '1.2.3.4', trustedProxies: none })).toBe(
      '203.0.113.5',
    );
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', () => {
    expect(clientAddress({ remoteAddress: '203.0.113.5', forwardedFor: '1.2.3.4', trustedProxies: proxies })).toBe(
      '203.0.113.5',
    );
  });

  it('takes the rightmost untrusted hop when the peer is a trusted proxy', () => {
    expect(
      clientAddress({
        remoteAddress: '10.1.2.3',
        forwardedFor: '6.6.6.6, 198.51.100.9, 10.9.9.9',
        trustedProxies: proxies,
      }),
    ).toBe('198.51.100.9');
  });

  it('reads several X-Forwarded-For header lines as one list', () => {
    expect(
      clientAddress({
        remoteAddress: '192.168.1.7',
        forwardedFor: ['6.6.6.6', '198.51.100.9'],
        trustedProxies: proxies,
      }),
    ).toBe('198.51.100.9');
  });

  it('stops at a malformed hop and uses the nearest trusted address', () => {
    expect(
      clientAddress({
        remoteAddress: '10.1.2.3',
        forwardedFor: '1.2.3.4, not-an-ip, 10.9.9.9',
        trustedProxies: proxies,
      }),
    ).toBe('10.9.9.9');
  });

  it('is the trusted peer itself when the proxy sends no X-Forwarded-For or only trusted hops', () => {
    expect(clientAddress({ remoteAddress: '10.1.2.3', forwardedFor: undefined, trustedProxies: proxies })).toBe(
      '10.1.2.3',
    );
    expect(clientAddress({ remoteAddress: '10.1.2.3', forwardedFor: '10.4.4.4', trustedProxies: proxies })).toBe(
      '10.4.4.4',
    );
  });

  it('unwraps IPv4-mapped IPv6 peers before matching the trusted list', () => {
    expect(
      clientAddress({ remoteAddress: '::ffff:10.1.2.3', forwardedFor: '198.51.100.9', trustedProxies: proxies }),
    ).toBe('198.51.100.9');
  });

  it('matches IPv6 proxies by CIDR', () => {
    expect(clientAddress({ remoteAddress: 'fd12::1', forwardedFor: '2001:db8::7', trustedProxies: proxies })).toBe(
      '2001:db8::7',
    );
  });

  it('is undefined without a socket peer', () => {
    expect(
      clientAddress({ remoteAddress: undefined, forwardedFor: '1.2.3.4', trustedProxies: proxies }),
    ).toBeUndefined();
  });
});

describe('normalizeAddress', () => {
  it('canonicalises spellings of one address', () => {
    expect(normalizeAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeAddress('[2001:DB8:0:0::1]:443')).toBe('2001:db8::1');
    expect(normalizeAddress('2001:0db8:0000:0000:0000:0000:0000:0001')).toBe('2001:db8::1');
    expect(normalizeAddress('fe80::1%eth0')).toBe('fe80::1');
    expect(normalizeAddress('198.51.100.9:8080')).toBe('198.51.100.9');
    expect(normalizeAddress('::')).toBe('::');
    expect(normalizeAddress('unknown')).toBeUndefined();
  });
});

describe('addressSubject', () => {
  it('counts IPv4 addresses one by one and IPv6 addresses by their /64', () => {
    expect(addressSubject('198.51.100.9')).toBe('198.51.100.9');
    expect(addressSubject('2001:db8:1:2:aaaa::1')).toBe(addressSubject('2001:db8:1:2:bbbb::9'));
    expect(addressSubject('2001:db8:1:2::1')).toBe('2001:0db8:0001:0002::/64');
    expect(addressSubject(undefined)).toBe('unknown');
  });
});

describe('isAddressOrCidr', () => {
  it('accepts addresses and CIDR blocks and refuses anything else', () => {
    expect(['10.0.0.0/8', '192.168.1.7', '::1', 'fd00::/8'].every(isAddressOrCidr)).toBe(true);
    expect(['10.0.0.0/33', 'example.com', '10.0.0.0/8/1', '1.2.3.4/x', ''].some(isAddressOrCidr)).toBe(false);
  });
});
