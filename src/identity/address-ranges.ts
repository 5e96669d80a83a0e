/**
 * CIDR ranges (`AUTH_TRUSTED_PROXIES`) and the client address they let a proxy report. Built on
 * Node's `BlockList`, which compares IPv4 and IPv6 addresses numerically (no string games).
 */
import { BlockList, isIP } from 'node:net';

/** A set of CIDR ranges; see {@link parseAddressRanges}. */
export interface AddressRanges {
  /** Whether `address` (IPv4, IPv6, or IPv4-mapped IPv6 as sockets report it) is in a range. */
  has(address: string | undefined): boolean;
  /** The ranges as configured, for logs. */
  readonly ranges: readonly string[];
}

/**
 * Parses `10.0.0.0/8`-style ranges; a bare address is its own /32 or /128.
 * @returns the set, and one message per entry that is not a range (the entry is quoted: a range
 * is not a secret).
 */
export function parseAddressRanges(entries: readonly string[]): { ranges: AddressRanges; problems: string[] } {
  const list = new BlockList();
  const problems: string[] = [];
  for (const entry of entries) {
    const [address, prefixText, extra] = entry.split('/');
    const family = isIP(address ?? '');
    const max = family === 6 ? 128 : 32;
    const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (family === 0 || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
      problems.push(`"${entry}" is not an IP address or CIDR range`);
      continue;
    }
    list.addSubnet(address!, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  const has = (candidate: string | undefined) => {
    const address = candidate === undefined ? undefined : unmapped(candidate);
    if (!address) return false;
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };
  return { ranges: { has, ranges: [...entries] }, problems };
}

/** `::ffff:127.0.0.1` (how a dual-stack socket reports an IPv4 peer) → `127.0.0.1`. */
export function unmapped(address: string): string {
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return match ? match[1]! : address;
}

/**
 * The client's address: the socket peer, unless the peer is a trusted proxy; then the nearest
 * `X-Forwarded-For` entry (read from the right) that is not itself a trusted proxy. Entries to the
 * left of that one were written by the client and are never believed: anyone can send a header.
 *
 * @param forwardedFor every `X-Forwarded-For` value of the request, joined with `,`.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | undefined, trusted: AddressRanges): string {
  const direct = unmapped(peer ?? '') || 'unknown';
  if (!forwardedFor || !trusted.has(direct)) return direct;
  const hops = forwardedFor.split(',').map((hop) => unmapped(hop.trim()));
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    // A malformed hop stops the walk: what lies beyond it cannot be trusted either.
    if (isIP(hop) === 0) return direct;
    if (!trusted.has(hop)) return hop;
  }
  // Every hop is a proxy of ours: the leftmost is as close to the client as anyone knows.
  return hops[0] ?? direct;
}
