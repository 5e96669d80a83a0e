import { Injectable, Logger } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AuthConfig, GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { ANONYMOUS_PRINCIPAL, AUTH_FAILURE, fail, type AuthResult } from './auth-result';
import type { Credential } from './credentials';
import { JwtVerifier } from './jwt-verifier';

export { ANONYMOUS_PRINCIPAL, AUTH_FAILURE, JWT_CLOCK_TOLERANCE_SECONDS, type AuthResult } from './auth-result';

/**
 * Anything longer is refused before hashing or parsing. Real JWTs are a few KiB at most, and Node
 * already caps headers at 16 KiB; this bounds the work an unauthenticated client can cause.
 */
const MAX_TOKEN_LENGTH = 16 * 1024;

/**
 * Authenticates the credential of a WebSocket upgrade according to `GatewayConfig.auth`:
 *
 * - `none`: everyone is {@link ANONYMOUS_PRINCIPAL}, credential or not;
 * - `api_key`: the token must equal one configured key (compared in constant time); its principal
 *   is the socket's principal;
 * - `jwt`: the token must be a JWT signed with the configured HS256 secret, RS256/ES256 public key
 *   or JWKS, with `exp` (required), `nbf`, and `iss` / `aud` when configured checked (5 s clock
 *   skew); `sub` is the principal.
 *
 * Tokens are never logged and never appear in a result.
 */
@Injectable()
export class AuthService {
  private readonly logger = new Logger(AuthService.name);

  /** The configured auth mode. */
  readonly mode: AuthConfig['mode'];

  /** api_key: SHA-256 of every configured key, so comparisons are fixed-length and constant-time. */
  private readonly keyDigests: ReadonlyArray<{ principal: string; digest: Buffer }> = [];

  private readonly jwt?: JwtVerifier;

  constructor(@InjectConfig() config: GatewayConfig) {
    const auth = config.auth;
    this.mode = auth.mode;
    if (auth.mode === 'api_key') {
      this.keyDigests = auth.keys.map(({ principal, key }) => ({ principal, digest: sha256(key) }));
    } else if (auth.mode === 'jwt') {
      this.jwt = new JwtVerifier(auth, this.logger);
    }
  }

  /**
   * Checks one socket's credential.
   *
   * @param credential from {@link extractCredential}; `undefined` when the request carried none.
   * @returns the principal, or a failure whose `message` is safe to send to the client.
   */
  async authenticate(credential: Credential | undefined): Promise<AuthResult> {
    if (this.mode === 'none') return { ok: true, principal: ANONYMOUS_PRINCIPAL };
    const token = credential?.token;
    if (!token) return fail(AUTH_FAILURE.missing);
    if (token.length > MAX_TOKEN_LENGTH) return fail(AUTH_FAILURE.invalid);
    if (this.mode === 'api_key') return this.authenticateApiKey(token);
    return this.jwt!.verify(token);
  }

  private authenticateApiKey(token: string): AuthResult {
    // Comparing digests makes every comparison 32 bytes, so neither the key length nor how much of
    // a prefix matched shows in timing, and timingSafeEqual never throws on a length mismatch.
    // Every key is checked (no early exit) so the position of the matching key does not show either.
    const digest = sha256(token);
    let principal: string | undefined;
    for (const entry of this.keyDigests) {
      const equal = timingSafeEqual(digest, entry.digest);
      if (equal && principal === undefined) principal = entry.principal;
    }
    return principal === undefined ? fail(AUTH_FAILURE.invalid) : { ok: true, principal };
  }
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
