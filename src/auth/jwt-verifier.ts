import type { Logger } from '@nestjs/common';
import { createPublicKey } from 'node:crypto';
import {
  createLocalJWKSet,
  errors,
  importSPKI,
  jwtVerify,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWTHeaderParameters,
  type JWTPayload,
  type JWTVerifyOptions,
  type KeyLike,
} from 'jose';
import type { AuthConfig } from '../config/config.schema';
import { isValidPrincipal } from '../identity/principal';
import { AUTH_FAILURE, fail, JWT_CLOCK_TOLERANCE_SECONDS, type AuthResult } from './auth-result';
import type { RemoteKeySet } from './remote-key-set';

/** Asymmetric algorithms accepted from a public key or a JWKS (the contract names RS256 and ES256). */
type AsymmetricAlg = 'RS256' | 'ES256';

type JwtConfig = Extract<AuthConfig, { mode: 'jwt' }>;
type JwksResolver = ReturnType<typeof createLocalJWKSet>;

/** The algorithms accepted from a key set fetched by URL: what the contract names. */
const REMOTE_ALGORITHMS: readonly AsymmetricAlg[] = ['RS256', 'ES256'];

/**
 * Verifies JWTs against the configured key sources. When several are configured, the token's
 * header picks one: `HS256` → the secret; `RS256`/`ES256` → the JWKS file when the token's `kid` is
 * in it (or when no other source fits the alg), then the key set fetched by URL, then the public key.
 */
export class JwtVerifier {
  private readonly secret?: Uint8Array;
  private readonly publicKeyPem?: string;
  private readonly publicKeyAlg?: AsymmetricAlg;
  private publicKey?: Promise<KeyLike>;
  private readonly jwks?: JwksResolver;
  private readonly jwksAlgorithms = new Set<string>();
  private readonly jwksKids = new Set<string>();
  private readonly options: JWTVerifyOptions;

  constructor(
    config: JwtConfig,
    logger: Logger,
    private readonly remote?: RemoteKeySet,
  ) {
    const algorithms = new Set<string>();
    if (remote) for (const alg of REMOTE_ALGORITHMS) algorithms.add(alg);
    if (config.secret) {
      this.secret = new TextEncoder().encode(config.secret);
      algorithms.add('HS256');
    }
    if (config.publicKeyPem) {
      this.publicKeyPem = config.publicKeyPem;
      this.publicKeyAlg = algorithmOfPublicKey(config.publicKeyPem);
      algorithms.add(this.publicKeyAlg);
    }
    if (config.jwks) {
      try {
        this.jwks = createLocalJWKSet(config.jwks as JSONWebKeySet);
      } catch {
        throw new Error('AUTH_JWT_JWKS_FILE: every entry of "keys" must be a JSON Web Key object');
      }
      let ignored = 0;
      for (const key of config.jwks.keys) {
        const alg = algorithmOfJwk(key);
        if (!alg) {
          ignored += 1;
          continue;
        }
        this.jwksAlgorithms.add(alg);
        algorithms.add(alg);
        const kid = (key as { kid?: unknown }).kid;
        if (typeof kid === 'string') this.jwksKids.add(kid);
      }
      // A JWKS with nothing usable in it, and no other source, would reject every token at runtime:
      // refuse to start instead. Keys are never quoted in these messages.
      if (algorithms.size === 0) throw new Error('AUTH_JWT_JWKS_FILE: contains no RS256 or ES256 (P-256) signing key');
      if (ignored > 0) logger.warn(`AUTH_JWT_JWKS_FILE: ignoring ${ignored} key(s) that are not RS256 or ES256 (P-256) signing keys`);
    }
    // Only reachable with a config that did not come from parseConfig; an empty `algorithms` would
    // otherwise reject every token with no hint why.
    if (algorithms.size === 0) throw new Error('AUTH_JWT_SECRET: AUTH_MODE=jwt needs AUTH_JWT_SECRET, AUTH_JWT_PUBLIC_KEY, AUTH_JWT_JWKS_FILE or AUTH_JWT_JWKS_URL');

    this.options = {
      // Explicit, so a token cannot choose its own algorithm: an HS256 token "signed" with the public
      // key text is refused when only a public key is configured, and `alg: none` never verifies.
      algorithms: [...algorithms],
      requiredClaims: ['exp'],
      clockTolerance: JWT_CLOCK_TOLERANCE_SECONDS,
      issuer: config.issuer,
      audience: config.audience,
    };
  }

  async verify(token: string): Promise<AuthResult> {
    let payload: JWTPayload;
    try {
      payload = await this.verifyWithAnyMatchingKey(token);
    } catch (error) {
      return fail(failureMessage(error));
    }
    // The principal names Redis keys and log lines: a `sub` that cannot be one is refused.
    if (typeof payload.sub !== 'string' || !isValidPrincipal(payload.sub)) return fail(AUTH_FAILURE.invalid);
    // `exp` is required and jose has checked it is a number (with the same tolerance).
    return { ok: true, principal: payload.sub, expiresAt: ((payload.exp as number) + JWT_CLOCK_TOLERANCE_SECONDS) * 1000 };
  }

  private async verifyWithAnyMatchingKey(token: string): Promise<JWTPayload> {
    try {
      return (await jwtVerify(token, (header, jws) => this.resolveKey(header, jws), this.options)).payload;
    } catch (error) {
      // A JWKS with several keys of one type and a token without `kid`: jose hands back every
      // candidate, and the token is valid if any of them verifies it.
      if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
      for await (const key of error) {
        try {
          return (await jwtVerify(token, key, this.options)).payload;
        } catch (inner) {
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
        }
      }
      throw new errors.JWSSignatureVerificationFailed();
    }
  }

  /** Runs after jose has checked `alg` against {@link JwtVerifier.options}'s `algorithms`. */
  private resolveKey(header: JWTHeaderParameters, jws: FlattenedJWSInput): Promise<KeyLike> | Uint8Array {
    const { alg, kid } = header;
    if (alg === 'HS256' && this.secret) return this.secret;
    const publicKeyFits = alg === this.publicKeyAlg;
    const remoteFits = this.remote !== undefined && (REMOTE_ALGORITHMS as readonly string[]).includes(alg);
    const jwksFits = this.jwks !== undefined && this.jwksAlgorithms.has(alg);
    if (jwksFits && ((!publicKeyFits && !remoteFits) || (typeof kid === 'string' && this.jwksKids.has(kid)))) return this.jwks!(header, jws);
    if (remoteFits) return this.remote!.resolve(header, jws);
    if (publicKeyFits) return this.importPublicKey();
    // Unreachable while `algorithms` is derived from the same sources; kept as a hard stop.
    throw new errors.JOSEAlgNotAllowed('no key for this algorithm');
  }

  /** Imported once, on first use; the alg was derived from the key itself at construction. */
  private importPublicKey(): Promise<KeyLike> {
    this.publicKey ??= importSPKI(this.publicKeyPem!, this.publicKeyAlg!);
    return this.publicKey;
  }
}

/**
 * The algorithm a PEM public key is for, from the key's own type rather than from any token
 * header: RSA → RS256, EC P-256 → ES256.
 * @throws Error naming the variable (never the key) for any other key type.
 */
function algorithmOfPublicKey(pem: string): AsymmetricAlg {
  let key;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw new Error('AUTH_JWT_PUBLIC_KEY: is not a valid PEM public key');
  }
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new Error('AUTH_JWT_PUBLIC_KEY: must be an RSA (RS256) or EC P-256 (ES256) public key');
}

/** The algorithm a JWKS entry can verify, or undefined when it is not a usable RS256/ES256 signing key. */
function algorithmOfJwk(key: unknown): AsymmetricAlg | undefined {
  if (typeof key !== 'object' || key === null) return undefined;
  const jwk = key as { kty?: unknown; crv?: unknown; alg?: unknown; use?: unknown };
  if (jwk.use !== undefined && jwk.use !== 'sig') return undefined;
  const byType: AsymmetricAlg | undefined = jwk.kty === 'RSA' ? 'RS256' : jwk.kty === 'EC' && jwk.crv === 'P-256' ? 'ES256' : undefined;
  if (byType === undefined) return undefined;
  if (jwk.alg !== undefined && jwk.alg !== byType) return undefined;
  return byType;
}

/**
 * Maps a verification error to a fixed message. Only the error's class and claim name are looked
 * at: jose's messages are not forwarded, as they might one day quote token contents.
 */
function failureMessage(error: unknown): string {
  if (error instanceof errors.JWTExpired) return AUTH_FAILURE.expired;
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf' && error.reason === 'check_failed') return AUTH_FAILURE.notYetValid;
    if (error.claim === 'iss' || error.claim === 'aud') return AUTH_FAILURE.issuerOrAudience;
  }
  return AUTH_FAILURE.invalid;
}
