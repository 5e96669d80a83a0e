import { createLocalJWKSet, errors, type FlattenedJWSInput, type JSONWebKeySet, type JWTHeaderParameters, type KeyLike } from 'jose';
import type { RemoteKeysConfig } from '../config/auth-config';

/** What a remote key set reports; the auth service logs and counts it. */
export interface RemoteKeyEvents {
  /** A fetch succeeded: `keys` usable entries, `reason` why it ran. */
  fetched(keys: number, reason: FetchReason): void;
  /** A fetch failed; `problem` is a fixed phrase or an HTTP status, never a response body. */
  failed(problem: string, reason: FetchReason): void;
}

/** Why a fetch ran: at start, the periodic refresh, or a token naming a `kid` not in the set. */
export type FetchReason = 'initial' | 'refresh' | 'unknown_kid';

/** Responses larger than this are refused: a key set is a few KiB, a discovery document too. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
/** A discovery document's path under the issuer (OpenID Connect Discovery 1.0 §4). */
const DISCOVERY_PATH = '/.well-known/openid-configuration';

type Resolver = ReturnType<typeof createLocalJWKSet>;

/**
 * The signing keys an identity provider publishes at a URL (`AUTH_JWT_JWKS_URL`, or the
 * `jwks_uri` of its discovery document), fetched by this object and kept.
 *
 * jose's own remote set refetches before every verification once its cache is stale and fails the
 * token when that fetch fails; a provider outage would then lock every user out as soon as the
 * cache aged. Here, instead:
 * - the set is refreshed in the background every `cacheMs`; a failed refresh keeps the last good
 *   set (for as long as the outage lasts) and is reported through {@link RemoteKeyEvents};
 * - a token naming a `kid` the set lacks (the provider rotated) triggers one refetch, at most once
 *   per `cooldownMs`, so made-up kids cannot turn into a flood of requests to the provider;
 * - every fetch is bounded by `timeoutMs` and concurrent callers share one fetch.
 */
export class RemoteKeySet {
  private resolver: Resolver | undefined;
  private jwksUrl: string | undefined;
  private inflight: Promise<boolean> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastKidRefetchAt = Number.NEGATIVE_INFINITY;
  private lastSuccessAt: number | undefined;
  private stopped = false;

  constructor(
    private readonly config: RemoteKeysConfig,
    private readonly events: RemoteKeyEvents,
    private readonly now: () => number = Date.now,
  ) {
    this.jwksUrl = config.url;
  }

  /** Fetches the set now and refreshes it every `cacheMs` until {@link stop}. */
  start(): void {
    void this.fetchShared('initial');
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Seconds since the last successful fetch (undefined before the first): staleness, for metrics. */
  ageSeconds(): number | undefined {
    return this.lastSuccessAt === undefined ? undefined : (this.now() - this.lastSuccessAt) / 1000;
  }

  /** A jose key resolver: the key the token's header names, refetching once for an unknown `kid`. */
  async resolve(header: JWTHeaderParameters, jws: FlattenedJWSInput): Promise<KeyLike> {
    // Before the first set arrived (boot, or the provider down since boot): wait for the fetch
    // under way, or start one within the same cooldown as unknown kids.
    if (!this.resolver) {
      if (this.inflight || this.mayRefetchForKid()) await this.fetchShared('initial');
      if (!this.resolver) throw new errors.JWKSNoMatchingKey('no key set available');
    }
    try {
      return await this.resolver!(header, jws);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || !this.mayRefetchForKid()) throw error;
      await this.fetchShared('unknown_kid');
      return this.resolver!(header, jws);
    }
  }

  private mayRefetchForKid(): boolean {
    const now = this.now();
    if (now - this.lastKidRefetchAt < this.config.cooldownMs) return false;
    this.lastKidRefetchAt = now;
    return true;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.fetchShared('refresh').finally(() => this.schedule()), this.config.cacheMs);
    // The refresh never holds the process open (tests, shutdown).
    this.timer.unref();
  }

  /** One fetch at a time; true when the set was (re)loaded. Never throws. */
  private fetchShared(reason: FetchReason): Promise<boolean> {
    this.inflight ??= this.fetchOnce(reason).finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async fetchOnce(reason: FetchReason): Promise<boolean> {
    try {
      this.jwksUrl ??= await this.discover();
      const body = await this.getJson(this.jwksUrl);
      const keys = (body as { keys?: unknown }).keys;
      if (!Array.isArray(keys)) throw new FetchProblem('the response is not a JWKS ({"keys":[…]})');
      this.resolver = createLocalJWKSet(body as JSONWebKeySet);
      this.lastSuccessAt = this.now();
      this.events.fetched(keys.length, reason);
      return true;
    } catch (error) {
      this.events.failed(error instanceof FetchProblem ? error.message : 'the response is not a usable key set', reason);
      return false;
    }
  }

  /** The `jwks_uri` of the issuer's discovery document; kept once found. */
  private async discover(): Promise<string> {
    const url = `${this.config.discoveryIssuer!.replace(/\/+$/, '')}${DISCOVERY_PATH}`;
    const document = (await this.getJson(url)) as { jwks_uri?: unknown };
    if (typeof document.jwks_uri !== 'string' || !/^https?:\/\//.test(document.jwks_uri)) throw new FetchProblem('the discovery document has no http(s) jwks_uri');
    return document.jwks_uri;
  }

  private async getJson(url: string): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(url, { headers: { accept: 'application/json' }, redirect: 'follow', signal: AbortSignal.timeout(this.config.timeoutMs) });
    } catch (error) {
      const name = (error as Error).name;
      throw new FetchProblem(name === 'TimeoutError' ? `no answer within ${this.config.timeoutMs} ms` : 'connection failed');
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new FetchProblem(`HTTP ${response.status}`);
    }
    const length = Number(response.headers.get('content-length') ?? 0);
    if (length > MAX_RESPONSE_BYTES) {
      await response.body?.cancel();
      throw new FetchProblem('the response is too large');
    }
    const text = await response.text();
    if (text.length > MAX_RESPONSE_BYTES) throw new FetchProblem('the response is too large');
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new FetchProblem('the response is not JSON');
    }
  }
}

/** A fetch failure whose message is safe to log (no body, no URL credentials). */
class FetchProblem extends Error {}
