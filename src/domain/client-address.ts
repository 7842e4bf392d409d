import { BlockList, isIP } from 'node:net';

/**
 * Who the client is, for rate limits and logs. Pure functions (node:net's BlockList and isIP
 * only compute): the HTTP middleware and the WebSocket gateway both call them with the socket's
 * remoteAddress and the X-Forwarded-For header.
 *
 * The rule: X-Forwarded-For is a list each proxy appends its peer to, so only the entries added
 * by proxies we run can be believed. When the direct peer is a trusted proxy, walk the list from
 * the right past the trusted proxies; the first address that is not one is the client. Anything
 * further left was written by the client itself and is ignored. An untrusted peer's header is
 * ignored entirely: otherwise anyone could send `X-Forwarded-For: <random>` and get a fresh
 * budget with every request.
 */
export interface TrustedProxies {
  contains(address: string): boolean;
}

/** `10.0.0.0/8`, `192.168.1.7`, `fd00::/8`, `::1`. */
export function isAddressOrCidr(value: string): boolean {
  return parseCidr(value) !== undefined;
}

/** Builds the matcher once (at start-up) from TRUSTED_PROXIES entries; throws on a bad entry. */
export function createTrustedProxies(entries: readonly string[]): TrustedProxies {
  if (entries.length === 0) return { contains: () => false };
  const list = new BlockList();
  for (const entry of entries) {
    const cidr = parseCidr(entry);
    if (!cidr) throw new Error(`not an IP address or CIDR block: ${entry}`);
    list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return {
    contains(address) {
      const family = isIP(address);
      if (family === 0) return false;
      return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

/**
 * The client's address: the socket peer, or — when that peer is a trusted proxy — the rightmost
 * X-Forwarded-For entry that is not a trusted proxy. `undefined` when the peer is unknown (an
 * in-process request without a socket).
 */
export function clientAddress(input: {
  remoteAddress: string | undefined;
  forwardedFor: string | string[] | undefined;
  trustedProxies: TrustedProxies;
}): string | undefined {
  const peer = input.remoteAddress === undefined ? undefined : normalizeAddress(input.remoteAddress);
  if (peer === undefined || !input.trustedProxies.contains(peer) || input.forwardedFor === undefined) return peer;
  const hops = (Array.isArray(input.forwardedFor) ? input.forwardedFor.join(',') : input.forwardedFor)
    .split(',')
    .map((hop) => hop.trim())
    .filter((hop) => hop.length > 0);
  // The nearest address we can vouch for so far: starts as our trusted peer.
  let nearest = peer;
  for (let index = hops.length - 1; index >= 0; index--) {
    const hop = normalizeAddress(hops[index] as string);
    // A malformed entry was written by whoever sits left of the last trusted proxy: stop there.
    if (hop === undefined) return nearest;
    if (!input.trustedProxies.contains(hop)) return hop;
    nearest = hop;
  }
  // Every hop is one of our proxies (e.g. a health checker inside the network).
  return nearest;
}

/**
 * The subject a per-address limit counts: an IPv4 address as is, an IPv6 address by its /64
 * (one subscriber usually holds a whole /64 and can pick any address in it).
 */
export function addressSubject(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  if (isIP(address) !== 6) return address;
  return `${expandIpv6(address).slice(0, 4).join(':')}::/64`;
}

/** Canonical text of an address (`::ffff:1.2.3.4` → `1.2.3.4`, brackets and zone dropped), or undefined. */
export function normalizeAddress(raw: string): string | undefined {
  let value = raw.trim();
  if (value.startsWith('[')) {
    // `[v6]` or `[v6]:port`
    const end = value.indexOf(']');
    if (end < 0) return undefined;
    value = value.slice(1, end);
  } else if (/^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(value)) {
    value = value.slice(0, value.lastIndexOf(':')); // `v4:port`
  }
  const zone = value.indexOf('%');
  if (zone >= 0) value = value.slice(0, zone);
  const family = isIP(value);
  if (family === 4) return value;
  if (family !== 6) return undefined;
  const lower = value.toLowerCase();
  const mapped = /^(?:0{0,4}:){0,5}:?ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  if (mapped && isIP(mapped[1] as string) === 4) return mapped[1];
  return expandIpv6(lower)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')
    .replace(/(^|:)0(:0)+(:|$)/, '::')
    .replace(/^:::/, '::')
    .replace(/:::$/, '::');
}

function parseCidr(value: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address, prefixText, extra] = value.trim().split('/');
  if (address === undefined || extra !== undefined) return undefined;
  const family = isIP(address);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return undefined;
  return { address, prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
}

/** The eight 16-bit groups of an IPv6 address, each as 4 hex digits (an embedded IPv4 tail converted). */
function expandIpv6(address: string): string[] {
  let text = address.toLowerCase();
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : Array(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((group) => group.padStart(4, '0'));
}
