import { clientAddress, parseAddressRanges } from './address-ranges';
import { anonymousPrincipal, isAnonymousKey, principalProblem } from './principal';

describe('principals', () => {
  it('are bounded, free of control characters and of Redis Cluster hash-tag braces', () => {
    expect(principalProblem('alice@example.com')).toBeUndefined();
    expect(principalProblem('x'.repeat(256))).toBeUndefined();
    expect(principalProblem('x'.repeat(257))).toMatch(/longer than 256/);
    expect(principalProblem('')).toBe('is empty');
    for (const bad of ['a{b', 'a}b', 'a\nb', 'a\u0000b', 'a\u007fb', 'a\u2028b']) expect(principalProblem(bad)).toMatch(/control character/);
  });

  it('of an anonymous key are a hash, stable per key, never the key', () => {
    const key = 'anon.0123456789abcdefABCDEF';
    expect(isAnonymousKey(key)).toBe(true);
    expect(isAnonymousKey('anon.short')).toBe(false);
    expect(isAnonymousKey('anon.has spaces in it here')).toBe(false);
    expect(anonymousPrincipal(key)).toBe(anonymousPrincipal(key));
    expect(anonymousPrincipal(key)).toMatch(/^anon:[0-9a-f]{32}$/);
    expect(anonymousPrincipal(key)).not.toContain('0123456789abcdef');
  });
});

describe('address ranges and the client address', () => {
  const { ranges, problems } = parseAddressRanges(['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);

  it('match IPv4, IPv4-mapped IPv6 and IPv6 addresses numerically', () => {
    expect(problems).toEqual([]);
    expect(ranges.has('10.200.3.4')).toBe(true);
    expect(ranges.has('::ffff:10.1.1.1')).toBe(true);
    expect(ranges.has('127.0.0.1')).toBe(true);
    expect(ranges.has('127.0.0.2')).toBe(false);
    expect(ranges.has('fd12::1')).toBe(true);
    expect(ranges.has('11.0.0.1')).toBe(false);
    expect(ranges.has(undefined)).toBe(false);
  });

  it('report entries that are not ranges', () => {
    expect(parseAddressRanges(['10.0.0.0/33', 'example.com', '1.2.3.4/8/9', '::1/129']).problems).toHaveLength(4);
  });

  it('believe X-Forwarded-For only from a trusted peer, reading from the right past trusted hops', () => {
    expect(clientAddress('::ffff:10.0.0.5', '198.51.100.1, 203.0.113.9, 10.0.0.7', ranges)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.5', '10.0.0.9', ranges)).toBe('10.0.0.9');
    expect(clientAddress('192.0.2.1', '203.0.113.9', ranges)).toBe('192.0.2.1');
    expect(clientAddress('10.0.0.5', 'not-an-ip, 203.0.113.9', ranges)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.5', '203.0.113.9, garbage', ranges)).toBe('10.0.0.5');
    expect(clientAddress('10.0.0.5', undefined, ranges)).toBe('10.0.0.5');
  });
});
