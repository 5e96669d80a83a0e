import { Injectable, Logger, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthConfig, GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { ANONYMOUS_PRINCIPAL_PREFIX, anonymousPrincipal, isAnonymousKey, isValidPrincipal, looksAnonymous } from '../identity/principal';
import { parseAddressRanges, unmapped, type AddressRanges } from '../identity/address-ranges';
import { MetricsService } from '../metrics/metrics.service';
import { AUTH_FAILURE, fail, type AuthResult } from './auth-result';
import type { Credential } from './credentials';
import { JwtVerifier } from './jwt-verifier';
import { RemoteKeySet, type FetchReason } from './remote-key-set';

export { AUTH_FAILURE, JWT_CLOCK_TOLERANCE_SECONDS, type AuthResult } from './auth-result';

/**
 * Anything longer is refused before hashing or parsing. Real JWTs are a few KiB at most, and Node
 * already caps headers at 16 KiB; this bounds the work an unauthenticated client can cause.
 */
const MAX_TOKEN_LENGTH = 16 * 1024;

/** Where an upgrade came from: what `trusted_header` mode needs besides the credential. */
export interface UpgradeSource {
  /** The socket peer's address (the proxy's, behind one). */
  peer: string | undefined;
  headers: IncomingHttpHeaders;
}

/**
 * Authenticates the credential of a WebSocket upgrade according to `GatewayConfig.auth`:
 *
 * - `none`: anonymous. The principal is `anon:<hash>` of the client's anonymous key
 *   (`anon.<random>`, which the SDK keeps per browser session), or a fresh `anon:<random>` of its
 *   own for a socket without one: anonymous clients never share streams or limits by accident;
 * - `api_key`: the token must equal one configured key (compared in constant time); its principal
 *   is the socket's principal;
 * - `jwt`: the token must be a JWT signed with the configured HS256 secret, RS256/ES256 public key,
 *   JWKS file or JWKS URL (`exp` required, `nbf`, and `iss` / `aud` when configured, 5 s clock
 *   skew); `sub` is the principal;
 * - `trusted_header`: the principal is the configured header, believed only from a peer in
 *   `AUTH_TRUSTED_PROXIES`.
 *
 * Principals are validated in every mode (see `identity/principal.ts`). Tokens and anonymous keys
 * are never logged and never appear in a result.
 */
@Injectable()
export class AuthService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(AuthService.name);

  /** The configured auth mode. */
  readonly mode: AuthConfig['mode'];

  /** api_key: SHA-256 of every configured key, so comparisons are fixed-length and constant-time. */
  private readonly keyDigests: ReadonlyArray<{ principal: string; digest: Buffer }> = [];

  private readonly jwt?: JwtVerifier;
  private readonly remoteKeys?: RemoteKeySet;
  /** trusted_header: the proxies whose user header is believed. */
  private readonly proxies?: AddressRanges;

  constructor(
    @InjectConfig() private readonly config: GatewayConfig,
    @Optional() metrics?: MetricsService,
  ) {
    const auth = config.auth;
    this.mode = auth.mode;
    if (auth.mode === 'api_key') {
      this.keyDigests = auth.keys.map(({ principal, key }) => ({ principal, digest: sha256(key) }));
    } else if (auth.mode === 'trusted_header') {
      this.proxies = parseAddressRanges(auth.proxies).ranges;
    } else if (auth.mode === 'jwt') {
      if (auth.remoteKeys) this.remoteKeys = new RemoteKeySet(auth.remoteKeys, this.keyEvents(metrics));
      this.jwt = new JwtVerifier(auth, this.logger, this.remoteKeys);
      if (metrics && this.remoteKeys) {
        const keys = this.remoteKeys;
        metrics.gauge('jwks_age_seconds', 'Seconds since the JWKS was last fetched successfully (-1 before the first); grows while the provider is down', () => keys.ageSeconds() ?? -1);
      }
    }
  }

  /** Whether credentials in this mode expire (only JWTs do): `auth.refresh` is meaningful. */
  get credentialsExpire(): boolean {
    return this.mode === 'jwt';
  }

  onModuleInit(): void {
    this.remoteKeys?.start();
    if (this.mode === 'none' && this.config.env === 'production') {
      this.logger.warn(
        'AUTH_MODE=none: nobody is authenticated. Each client is an anonymous principal of its own, identified only by the key it sends (anyone holding that key is that client); limits also hold per client address. Put an authenticating proxy in front (AUTH_MODE=trusted_header) or use api_key / jwt for real users.',
      );
    }
  }

  onModuleDestroy(): void {
    this.remoteKeys?.stop();
  }

  /**
   * Checks one socket's credential.
   *
   * @param credential from {@link extractCredential}; `undefined` when the request carried none.
   * @param source the request's peer and headers; needed by `trusted_header` (without it, refused).
   * @returns the principal, or a failure whose `message` is safe to send to the client.
   */
  async authenticate(credential: Credential | undefined, source?: UpgradeSource): Promise<AuthResult> {
    const token = credential?.token;
    if (this.mode === 'none') return { ok: true, principal: this.anonymous(token) };
    if (this.mode === 'trusted_header') return this.authenticateTrustedHeader(source);
    // An anonymous key is the SDK's default when it has no token: in these modes it is "no credential".
    if (!token || looksAnonymous(token)) return fail(AUTH_FAILURE.missing);
    if (token.length > MAX_TOKEN_LENGTH) return fail(AUTH_FAILURE.invalid);
    if (this.mode === 'api_key') return this.authenticateApiKey(token);
    return this.jwt!.verify(token);
  }

  /**
   * Checks the token of an `auth.refresh` on an open socket: a JWT, verified as at the upgrade.
   * Only meaningful when {@link credentialsExpire}.
   */
  async verifyRefresh(token: string): Promise<AuthResult> {
    if (!this.jwt) return fail(AUTH_FAILURE.invalid);
    if (token.length > MAX_TOKEN_LENGTH || looksAnonymous(token)) return fail(AUTH_FAILURE.invalid);
    return this.jwt.verify(token);
  }

  private anonymous(token: string | undefined): string {
    // A key shaped otherwise (a JWT sent to a gateway without auth, a short made-up key) is not a
    // stable identity: the socket gets a principal of its own.
    if (token && token.length <= MAX_TOKEN_LENGTH && isAnonymousKey(token)) return anonymousPrincipal(token);
    return `${ANONYMOUS_PRINCIPAL_PREFIX}${randomBytes(16).toString('hex')}`;
  }

  private authenticateTrustedHeader(source: UpgradeSource | undefined): AuthResult {
    const auth = this.config.auth as Extract<AuthConfig, { mode: 'trusted_header' }>;
    // The header is believed only from the proxy: anyone else could send it.
    if (!source || !this.proxies!.has(unmapped(source.peer ?? ''))) return fail(AUTH_FAILURE.untrusted);
    const value = source.headers[auth.header];
    // Repeated headers are ambiguous (which proxy wrote which?): refused.
    if (typeof value !== 'string') return fail(AUTH_FAILURE.missing);
    const principal = value.trim();
    if (!isValidPrincipal(principal) || principal.startsWith(ANONYMOUS_PRINCIPAL_PREFIX)) return fail(AUTH_FAILURE.invalid);
    return { ok: true, principal };
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

  /** Fetch outcomes of the remote key set, as log lines and counters (never a key or a body). */
  private keyEvents(metrics: MetricsService | undefined) {
    const fetches = metrics?.labelledCounter('jwks_fetches_total', 'JWKS and discovery fetches, by result (ok, error) and reason (initial, refresh, unknown_kid)', ['result', 'reason']);
    return {
      fetched: (keys: number, reason: FetchReason) => {
        fetches?.inc({ result: 'ok', reason });
        this.logger.log(`JWKS fetched (${reason}): ${keys} key(s)`);
      },
      failed: (problem: string, reason: FetchReason) => {
        fetches?.inc({ result: 'error', reason });
        this.logger.warn(`JWKS fetch failed (${reason}): ${problem}; the last good keys stay in use`);
      },
    };
  }
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
