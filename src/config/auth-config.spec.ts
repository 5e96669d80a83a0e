import { parseConfig } from './config.schema';

describe('AUTH_* configuration (issue 22)', () => {
  it('trusted_header needs AUTH_TRUSTED_PROXIES, valid ranges and a header name', () => {
    expect(() => parseConfig({ AUTH_MODE: 'trusted_header' })).toThrow(/AUTH_TRUSTED_PROXIES: AUTH_MODE=trusted_header needs/);
    expect(() => parseConfig({ AUTH_MODE: 'trusted_header', AUTH_TRUSTED_PROXIES: '10.0.0.0/33' })).toThrow(/AUTH_TRUSTED_PROXIES: "10.0.0.0\/33" is not/);
    expect(() => parseConfig({ AUTH_MODE: 'trusted_header', AUTH_TRUSTED_PROXIES: '10.0.0.0/8', AUTH_TRUSTED_HEADER: 'Authorization' })).toThrow(/cannot name the user/);
    expect(parseConfig({ AUTH_MODE: 'trusted_header', AUTH_TRUSTED_PROXIES: '10.0.0.0/8', AUTH_TRUSTED_HEADER: 'X-Forwarded-User' }).auth).toEqual({
      mode: 'trusted_header',
      header: 'x-forwarded-user',
      proxies: ['10.0.0.0/8'],
    });
  });

  it('jwt takes a JWKS URL, or discovers it from the issuer when no other key source is set', () => {
    const byUrl = parseConfig({ AUTH_MODE: 'jwt', AUTH_JWT_JWKS_URL: 'https://idp.example.com/keys', AUTH_JWT_JWKS_CACHE_MS: '1000' }).auth;
    expect(byUrl).toMatchObject({ remoteKeys: { url: 'https://idp.example.com/keys', cacheMs: 1000, cooldownMs: 30_000, timeoutMs: 5_000 } });
    expect(parseConfig({ AUTH_MODE: 'jwt', AUTH_JWT_ISSUER: 'https://idp.example.com/' }).auth).toMatchObject({ remoteKeys: { discoveryIssuer: 'https://idp.example.com/' } });
    // An issuer next to a secret is a claim check, not a key source.
    expect(parseConfig({ AUTH_MODE: 'jwt', AUTH_JWT_ISSUER: 'https://idp.example.com/', AUTH_JWT_SECRET: 'x'.repeat(32) }).auth).not.toHaveProperty('remoteKeys');
    expect(() => parseConfig({ AUTH_MODE: 'jwt', AUTH_JWT_ISSUER: 'not a url' })).toThrow(/AUTH_JWT_ISSUER: OIDC discovery/);
    expect(() => parseConfig({ AUTH_MODE: 'jwt', AUTH_JWT_JWKS_URL: 'ftp://x' })).toThrow(/AUTH_JWT_JWKS_URL: must be an absolute http\(s\) URL/);
  });

  it('refuses an API key principal that cannot be a principal, without quoting the entry', () => {
    const run = () => parseConfig({ AUTH_MODE: 'api_key', AUTH_API_KEYS: 'team{a}:0123456789abcdef-secret' });
    expect(run).toThrow(/AUTH_API_KEYS: entry 1: the principal contains a control character/);
    expect(run).not.toThrow(/0123456789abcdef-secret/);
  });
});
