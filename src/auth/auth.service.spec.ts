import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload, type KeyLike } from 'jose';
import { parseConfig } from '../config/config.schema';
import { AuthService, JWT_CLOCK_TOLERANCE_SECONDS, type AuthResult } from './auth.service';
import type { Credential } from './credentials';

const SECRET = 'a-test-hs256-secret-that-is-at-least-32-bytes-long';
const now = () => Math.floor(Date.now() / 1000);

function service(env: Record<string, string>): AuthService {
  return new AuthService(parseConfig(env));
}

const bearer = (token: string): Credential => ({ token, source: 'header' });

async function sign(
  key: KeyLike | Uint8Array,
  alg: string,
  claims: JWTPayload = {},
  options: { kid?: string; exp?: number | null; sub?: string | null } = {},
): Promise<string> {
  const jwt = new SignJWT({ ...claims }).setProtectedHeader({ alg, ...(options.kid ? { kid: options.kid } : {}) }).setIssuedAt();
  if (options.sub !== null) jwt.setSubject(options.sub ?? 'user-1');
  if (options.exp !== null) jwt.setExpirationTime(options.exp ?? now() + 600);
  return jwt.sign(key);
}

const hsKey = new TextEncoder().encode(SECRET);

describe('AuthService', () => {
  describe('mode none', () => {
    // Issue 22: no longer one shared principal `anonymous`: every socket is accepted, as a stranger.
    it('accepts every socket as anonymous, credential or not, each one a principal of its own', async () => {
      const auth = service({});
      expect(auth.mode).toBe('none');
      const [a, b, c] = await Promise.all([auth.authenticate(undefined), auth.authenticate(undefined), auth.authenticate(bearer('garbage'))]);
      for (const result of [a, b, c]) expect(result).toEqual({ ok: true, principal: expect.stringMatching(/^anon:[0-9a-f]{32}$/) });
      expect(new Set([a, b, c].map((r) => r.ok && r.principal)).size).toBe(3);
    });

    it('makes the same anonymous key the same principal, a hash of it (the key itself is never the principal)', async () => {
      const auth = service({});
      const key = 'anon.AAAAAAAAAAAAAAAAAAAAAA';
      const first = await auth.authenticate(bearer(key));
      expect(first).toEqual({ ok: true, principal: expect.stringMatching(/^anon:[0-9a-f]{32}$/) });
      await expect(auth.authenticate({ token: key, source: 'subprotocol' })).resolves.toEqual(first);
      expect(JSON.stringify(first)).not.toContain('AAAAAAAAAAAAAAAA');
      await expect(auth.authenticate(bearer('anon.BBBBBBBBBBBBBBBBBBBBBB'))).resolves.not.toEqual(first);
      // Too short to be unguessable: not a key, a stranger.
      const short = await auth.authenticate(bearer('anon.short'));
      await expect(auth.authenticate(bearer('anon.short'))).resolves.not.toEqual(short);
    });
  });

  describe('mode api_key', () => {
    const aliceKey = 'alice-key-0123456789abcdef';
    const bobKey = 'bob-key-0123456789abcdef-longer';
    const auth = () => service({ AUTH_MODE: 'api_key', AUTH_API_KEYS: `alice:${aliceKey},bob:${bobKey}` });

    it('maps each key to its principal', async () => {
      const a = auth();
      expect(a.mode).toBe('api_key');
      await expect(a.authenticate(bearer(aliceKey))).resolves.toEqual({ ok: true, principal: 'alice' });
      await expect(a.authenticate({ token: bobKey, source: 'query' })).resolves.toEqual({ ok: true, principal: 'bob' });
    });

    it('rejects unknown keys, prefixes and extensions of a key', async () => {
      const a = auth();
      for (const token of ['wrong-key-0123456789abcdef', aliceKey.slice(0, -1), `${aliceKey}x`, aliceKey.toUpperCase(), ` ${aliceKey}`]) {
        await expect(a.authenticate(bearer(token))).resolves.toEqual({ ok: false, message: 'invalid credential' });
      }
    });

    it('reports a missing credential', async () => {
      await expect(auth().authenticate(undefined)).resolves.toEqual({ ok: false, message: 'missing credential' });
      await expect(auth().authenticate(bearer(''))).resolves.toEqual({ ok: false, message: 'missing credential' });
    });

    it('compares against every key, even after a match', async () => {
      const a = auth();
      // The real module object (a namespace import is a frozen interop copy), as auth.service.ts calls it.
      const spy = jest.spyOn(require('node:crypto') as typeof import('node:crypto'), 'timingSafeEqual');
      try {
        await a.authenticate(bearer(aliceKey));
        expect(spy).toHaveBeenCalledTimes(2);
        expect(spy.mock.calls.every(([x, y]) => (x as Buffer).length === 32 && (y as Buffer).length === 32)).toBe(true);
      } finally {
        spy.mockRestore();
      }
    });
  });

  describe('mode jwt, HS256', () => {
    const auth = (extra: Record<string, string> = {}) => service({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET, ...extra });

    it('accepts a valid token: sub is the principal, expiresAt is exp plus the clock tolerance, in ms', async () => {
      const exp = now() + 600;
      const result = await auth().authenticate(bearer(await sign(hsKey, 'HS256', {}, { sub: 'alice', exp })));
      expect(result).toEqual({ ok: true, principal: 'alice', expiresAt: (exp + JWT_CLOCK_TOLERANCE_SECONDS) * 1000 });
    });

    it('rejects a token signed with another secret', async () => {
      const token = await sign(new TextEncoder().encode('another-secret-that-is-also-32-bytes-long!'), 'HS256');
      await expect(auth().authenticate(bearer(token))).resolves.toEqual({ ok: false, message: 'invalid credential' });
    });

    it('rejects a tampered payload', async () => {
      const [h, , s] = (await sign(hsKey, 'HS256', {}, { sub: 'alice' })).split('.');
      const forged = Buffer.from(JSON.stringify({ sub: 'admin', exp: now() + 600 })).toString('base64url');
      await expect(auth().authenticate(bearer(`${h}.${forged}.${s}`))).resolves.toEqual({ ok: false, message: 'invalid credential' });
    });

    it('rejects an expired token, allowing 5 s of clock skew', async () => {
      await expect(auth().authenticate(bearer(await sign(hsKey, 'HS256', {}, { exp: now() - 60 })))).resolves.toEqual({ ok: false, message: 'token expired' });
      await expect(auth().authenticate(bearer(await sign(hsKey, 'HS256', {}, { exp: now() - 2 })))).resolves.toMatchObject({ ok: true });
    });

    it('rejects a token without exp', async () => {
      await expect(auth().authenticate(bearer(await sign(hsKey, 'HS256', {}, { exp: null })))).resolves.toEqual({ ok: false, message: 'invalid credential' });
    });

    it('rejects a token whose exp is not a number', async () => {
      const token = await new SignJWT({ sub: 'u', exp: 'tomorrow' } as unknown as JWTPayload).setProtectedHeader({ alg: 'HS256' }).sign(hsKey);
      await expect(auth().authenticate(bearer(token))).resolves.toEqual({ ok: false, message: 'invalid credential' });
    });

    it('rejects a token without sub, or with an empty or non-string sub', async () => {
      await expect(auth().authenticate(bearer(await sign(hsKey, 'HS256', {}, { sub: null })))).resolves.toEqual({ ok: false, message: 'invalid credential' });
      await expect(auth().authenticate(bearer(await sign(hsKey, 'HS256', {}, { sub: '' })))).resolves.toEqual({ ok: false, message: 'invalid credential' });
      const numericSub = await new SignJWT({ sub: 42 } as unknown as JWTPayload).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now() + 600).sign(hsKey);
      await expect(auth().authenticate(bearer(numericSub))).resolves.toEqual({ ok: false, message: 'invalid credential' });
    });

    it('rejects a token that is not yet valid (nbf), allowing 5 s of clock skew', async () => {
      await expect(auth().authenticate(bearer(await sign(hsKey, 'HS256', { nbf: now() + 60 })))).resolves.toEqual({ ok: false, message: 'token not yet valid' });
      await expect(auth().authenticate(bearer(await sign(hsKey, 'HS256', { nbf: now() + 2 })))).resolves.toMatchObject({ ok: true });
    });

    it('enforces issuer and audience when configured', async () => {
      const strict = auth({ AUTH_JWT_ISSUER: 'https://issuer.test', AUTH_JWT_AUDIENCE: 'gateway' });
      const mismatch = { ok: false, message: 'token issuer or audience mismatch' };
      await expect(strict.authenticate(bearer(await sign(hsKey, 'HS256', { iss: 'https://issuer.test', aud: 'gateway' })))).resolves.toMatchObject({ ok: true });
      await expect(strict.authenticate(bearer(await sign(hsKey, 'HS256', { iss: 'https://issuer.test', aud: ['other', 'gateway'] })))).resolves.toMatchObject({ ok: true });
      await expect(strict.authenticate(bearer(await sign(hsKey, 'HS256', { iss: 'https://evil.test', aud: 'gateway' })))).resolves.toEqual(mismatch);
      await expect(strict.authenticate(bearer(await sign(hsKey, 'HS256', { iss: 'https://issuer.test', aud: 'other' })))).resolves.toEqual(mismatch);
      await expect(strict.authenticate(bearer(await sign(hsKey, 'HS256', { aud: 'gateway' })))).resolves.toEqual(mismatch);
      await expect(strict.authenticate(bearer(await sign(hsKey, 'HS256', { iss: 'https://issuer.test' })))).resolves.toEqual(mismatch);
    });

    it('ignores iss and aud when not configured', async () => {
      await expect(auth().authenticate(bearer(await sign(hsKey, 'HS256', { iss: 'anyone', aud: 'anything' })))).resolves.toMatchObject({ ok: true });
    });

    it('rejects an unsigned alg: none token', async () => {
      const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'admin', exp: now() + 600 })}.`;
      await expect(auth().authenticate(bearer(unsigned))).resolves.toEqual({ ok: false, message: 'invalid credential' });
    });

    it('rejects garbage, missing and oversized tokens', async () => {
      await expect(auth().authenticate(bearer('not-a-jwt'))).resolves.toEqual({ ok: false, message: 'invalid credential' });
      await expect(auth().authenticate(bearer('a.b.c'))).resolves.toEqual({ ok: false, message: 'invalid credential' });
      await expect(auth().authenticate(bearer('x'.repeat(20_000)))).resolves.toEqual({ ok: false, message: 'invalid credential' });
      await expect(auth().authenticate(undefined)).resolves.toEqual({ ok: false, message: 'missing credential' });
    });
  });

  describe('mode jwt, public key PEM', () => {
    it('verifies RS256 with an RSA public key', async () => {
      const { publicKey, privateKey } = await generateKeyPair('RS256');
      const auth = service({ AUTH_MODE: 'jwt', AUTH_JWT_PUBLIC_KEY: await exportSPKI(publicKey) });
      await expect(auth.authenticate(bearer(await sign(privateKey, 'RS256', {}, { sub: 'rsa-user' })))).resolves.toMatchObject({ ok: true, principal: 'rsa-user' });
      const other = await generateKeyPair('RS256');
      await expect(auth.authenticate(bearer(await sign(other.privateKey, 'RS256')))).resolves.toEqual({ ok: false, message: 'invalid credential' });
    });

    it('verifies ES256 with an EC P-256 public key, and refuses RS256 tokens for it', async () => {
      const { publicKey, privateKey } = await generateKeyPair('ES256');
      const auth = service({ AUTH_MODE: 'jwt', AUTH_JWT_PUBLIC_KEY: await exportSPKI(publicKey) });
      await expect(auth.authenticate(bearer(await sign(privateKey, 'ES256', {}, { sub: 'ec-user' })))).resolves.toMatchObject({ ok: true, principal: 'ec-user' });
      const rsa = await generateKeyPair('RS256');
      await expect(auth.authenticate(bearer(await sign(rsa.privateKey, 'RS256')))).resolves.toEqual({ ok: false, message: 'invalid credential' });
    });

    it('accepts a PEM passed with literal \\n in the environment', async () => {
      const { publicKey, privateKey } = await generateKeyPair('ES256');
      const pem = (await exportSPKI(publicKey)).trim().replace(/\n/g, '\\n');
      const auth = service({ AUTH_MODE: 'jwt', AUTH_JWT_PUBLIC_KEY: pem });
      await expect(auth.authenticate(bearer(await sign(privateKey, 'ES256')))).resolves.toMatchObject({ ok: true });
    });

    it('rejects alg confusion: an HS256 token signed with the public key PEM as the secret', async () => {
      const { publicKey } = await generateKeyPair('RS256');
      const pem = await exportSPKI(publicKey);
      const auth = service({ AUTH_MODE: 'jwt', AUTH_JWT_PUBLIC_KEY: pem });
      // Both the PEM as exported and as parseConfig stores it (trimmed), in case a verifier used either.
      for (const secret of [pem, pem.trim()]) {
        const forged = await sign(new TextEncoder().encode(secret), 'HS256', {}, { sub: 'admin' });
        await expect(auth.authenticate(bearer(forged))).resolves.toEqual({ ok: false, message: 'invalid credential' });
      }
    });

    it('rejects alg confusion even when an HS256 secret is configured as well', async () => {
      const { publicKey } = await generateKeyPair('RS256');
      const pem = await exportSPKI(publicKey);
      const auth = service({ AUTH_MODE: 'jwt', AUTH_JWT_PUBLIC_KEY: pem, AUTH_JWT_SECRET: SECRET });
      const forged = await sign(new TextEncoder().encode(pem.trim()), 'HS256', {}, { sub: 'admin' });
      await expect(auth.authenticate(bearer(forged))).resolves.toEqual({ ok: false, message: 'invalid credential' });
      await expect(auth.authenticate(bearer(await sign(hsKey, 'HS256')))).resolves.toMatchObject({ ok: true });
    });

    it('fails fast on a public key that is neither RSA nor EC P-256, without quoting it', async () => {
      const { publicKey } = await generateKeyPair('ES384');
      const pem = await exportSPKI(publicKey);
      expect(() => service({ AUTH_MODE: 'jwt', AUTH_JWT_PUBLIC_KEY: pem })).toThrow(/^AUTH_JWT_PUBLIC_KEY: must be an RSA \(RS256\) or EC P-256 \(ES256\) public key$/);
    });
  });

  describe('mode jwt, JWKS file', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'auth-spec-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    let fileCount = 0;
    function jwksService(keys: unknown[], extra: Record<string, string> = {}): AuthService {
      const path = join(dir, `jwks-${(fileCount += 1)}.json`);
      writeFileSync(path, JSON.stringify({ keys }));
      return service({ AUTH_MODE: 'jwt', AUTH_JWT_JWKS_FILE: path, ...extra });
    }

    it('selects the key by kid', async () => {
      const k1 = await generateKeyPair('RS256');
      const k2 = await generateKeyPair('ES256');
      const auth = jwksService([
        { ...(await exportJWK(k1.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' },
        { ...(await exportJWK(k2.publicKey)), kid: 'k2' },
      ]);
      await expect(auth.authenticate(bearer(await sign(k1.privateKey, 'RS256', {}, { kid: 'k1', sub: 'one' })))).resolves.toMatchObject({ ok: true, principal: 'one' });
      await expect(auth.authenticate(bearer(await sign(k2.privateKey, 'ES256', {}, { kid: 'k2', sub: 'two' })))).resolves.toMatchObject({ ok: true, principal: 'two' });
      await expect(auth.authenticate(bearer(await sign(k2.privateKey, 'ES256', {}, { kid: 'unknown' })))).resolves.toEqual({ ok: false, message: 'invalid credential' });
    });

    it('rejects a token whose kid names a different key than the one that signed it', async () => {
      const k1 = await generateKeyPair('RS256');
      const k2 = await generateKeyPair('RS256');
      const auth = jwksService([
        { ...(await exportJWK(k1.publicKey)), kid: 'k1' },
        { ...(await exportJWK(k2.publicKey)), kid: 'k2' },
      ]);
      await expect(auth.authenticate(bearer(await sign(k2.privateKey, 'RS256', {}, { kid: 'k2' })))).resolves.toMatchObject({ ok: true });
      await expect(auth.authenticate(bearer(await sign(k2.privateKey, 'RS256', {}, { kid: 'k1' })))).resolves.toEqual({ ok: false, message: 'invalid credential' });
    });

    it('tries every candidate when a token has no kid and several keys fit', async () => {
      const k1 = await generateKeyPair('RS256');
      const k2 = await generateKeyPair('RS256');
      const stranger = await generateKeyPair('RS256');
      const auth = jwksService([await exportJWK(k1.publicKey), await exportJWK(k2.publicKey)]);
      await expect(auth.authenticate(bearer(await sign(k2.privateKey, 'RS256')))).resolves.toMatchObject({ ok: true });
      await expect(auth.authenticate(bearer(await sign(stranger.privateKey, 'RS256')))).resolves.toEqual({ ok: false, message: 'invalid credential' });
      await expect(auth.authenticate(bearer(await sign(k1.privateKey, 'RS256', {}, { exp: now() - 60 })))).resolves.toEqual({ ok: false, message: 'token expired' });
    });

    it('rejects HS256 tokens signed with the JWK text or PEM of a JWKS key', async () => {
      const k1 = await generateKeyPair('RS256');
      const jwk = await exportJWK(k1.publicKey);
      const auth = jwksService([{ ...jwk, kid: 'k1' }]);
      for (const secret of [JSON.stringify(jwk), await exportSPKI(k1.publicKey), jwk.n!]) {
        const forged = await sign(new TextEncoder().encode(secret), 'HS256', {}, { kid: 'k1', sub: 'admin' });
        await expect(auth.authenticate(bearer(forged))).resolves.toEqual({ ok: false, message: 'invalid credential' });
      }
    });

    it('uses the JWKS for its kids and the PEM otherwise when both are configured', async () => {
      const pemPair = await generateKeyPair('RS256');
      const jwksPair = await generateKeyPair('RS256');
      const auth = jwksService([{ ...(await exportJWK(jwksPair.publicKey)), kid: 'j1' }], { AUTH_JWT_PUBLIC_KEY: await exportSPKI(pemPair.publicKey) });
      await expect(auth.authenticate(bearer(await sign(pemPair.privateKey, 'RS256')))).resolves.toMatchObject({ ok: true });
      await expect(auth.authenticate(bearer(await sign(pemPair.privateKey, 'RS256', {}, { kid: 'not-in-jwks' })))).resolves.toMatchObject({ ok: true });
      await expect(auth.authenticate(bearer(await sign(jwksPair.privateKey, 'RS256', {}, { kid: 'j1' })))).resolves.toMatchObject({ ok: true });
      await expect(auth.authenticate(bearer(await sign(jwksPair.privateKey, 'RS256')))).resolves.toEqual({ ok: false, message: 'invalid credential' });
    });

    it('fails fast on a JWKS without any RS256/ES256 signing key', async () => {
      expect(() => jwksService([{ kty: 'oct', k: Buffer.from(SECRET).toString('base64url'), kid: 'sym' }])).toThrow(/^AUTH_JWT_JWKS_FILE: contains no RS256 or ES256/);
    });
  });

  describe('failure messages', () => {
    it('never contain the token, any part of it, or key material', async () => {
      const { publicKey, privateKey } = await generateKeyPair('RS256');
      const pem = await exportSPKI(publicKey);
      const strict = service({ AUTH_MODE: 'jwt', AUTH_JWT_PUBLIC_KEY: pem, AUTH_JWT_ISSUER: 'iss', AUTH_JWT_AUDIENCE: 'aud' });
      const apiKey = 'the-configured-api-key-123456';
      const keyed = service({ AUTH_MODE: 'api_key', AUTH_API_KEYS: `p:${apiKey}` });
      const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

      const cases: Array<[AuthService, string]> = [
        [strict, await sign(privateKey, 'RS256', { iss: 'iss', aud: 'aud' }, { exp: now() - 60 })],
        [strict, await sign(privateKey, 'RS256', { iss: 'iss', aud: 'aud', nbf: now() + 600 })],
        [strict, await sign(privateKey, 'RS256', { iss: 'wrong-issuer-value', aud: 'aud' })],
        [strict, await sign(privateKey, 'RS256', { iss: 'iss', aud: 'aud' }, { sub: null })],
        [strict, await sign(privateKey, 'RS256', { iss: 'iss', aud: 'aud' }, { exp: null })],
        [strict, await sign(new TextEncoder().encode(pem), 'HS256', { iss: 'iss', aud: 'aud' })],
        [strict, `${b64({ alg: 'none' })}.${b64({ sub: 'x', exp: now() + 60 })}.`],
        [strict, `${b64({ alg: 'RS256', crit: ['zzz'], zzz: 1 })}.${b64({ sub: 'x' })}.c2ln`],
        [strict, 'eyJ-garbage-token-value'],
        [keyed, `${apiKey.slice(0, -1)}`],
        [keyed, 'some-wrong-api-key-value'],
      ];
      const results: AuthResult[] = [];
      for (const [auth, token] of cases) {
        const result = await auth.authenticate(bearer(token));
        results.push(result);
        expect(result.ok).toBe(false);
        if (result.ok) continue;
        expect(result.message).not.toContain(token);
        for (const part of token.split('.').filter((p) => p.length >= 4)) expect(result.message).not.toContain(part);
        expect(result.message).not.toContain(apiKey);
        expect(result.message).not.toContain('BEGIN');
        expect(result.message).toMatch(/^(missing credential|invalid credential|token expired|token not yet valid|token issuer or audience mismatch)$/);
      }
      expect(results.map((r) => (r.ok ? 'ok' : r.message))).toEqual([
        'token expired',
        'token not yet valid',
        'token issuer or audience mismatch',
        'invalid credential',
        'invalid credential',
        'invalid credential',
        'invalid credential',
        'invalid credential',
        'invalid credential',
        'invalid credential',
        'invalid credential',
      ]);
    });
  });
});
