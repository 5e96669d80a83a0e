/**
 * Keeps a socket's credential fresh (docs/protocol.md "Refreshing the token"): when
 * `session.ready` or `auth.refreshed` says the credential expires, asks `getToken` for a new one
 * ahead of time and sends `auth.refresh`, so a stream in flight is never cut by a 4401. A refresh
 * that is refused, or whose `getToken` throws (an identity provider briefly away), is tried again
 * a few times with backoff while the credential is still valid.
 */
import type { AuthRefreshedFrame, ClientFrame, SessionReadyFrame } from '@holysheep/protocol';
import type { TokenRequest } from './client-types';

/** What the refresher needs from the client. */
export interface RefreshLink {
  send(frame: ClientFrame): void;
  getToken(request: TokenRequest): string | null | undefined | Promise<string | null | undefined>;
}

/** Never refresh earlier than this before expiry… */
const MAX_LEAD_MS = 60_000;
/** …and, for short-lived tokens, when a quarter of the lifetime is left. */
const LEAD_FRACTION = 0.25;

/** Tries after a refused or failed refresh, each after twice the wait of the one before. */
export const MAX_REFRESH_RETRIES = 3;
export const REFRESH_RETRY_BASE_MS = 1_000;

/** When to refresh a credential that expires in `expiresInMs`: ahead of it, by up to a minute. */
export function refreshDelay(expiresInMs: number): number {
  return Math.max(0, expiresInMs - Math.min(MAX_LEAD_MS, expiresInMs * LEAD_FRACTION));
}

/** One per client; reset for every socket. */
export class TokenRefresher {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pendingId: string | undefined;
  private sequence = 0;
  /** Bumped per socket, so a token resolved for an old socket is not sent on a new one. */
  private generation = 0;
  /** Retries spent since the last scheduled refresh. */
  private retries = 0;
  /** When the socket's credential expires (ms since the epoch): no retry is worth sending after it. */
  private expiresAt: number | undefined;

  constructor(private readonly link: RefreshLink) {}

  /** A socket was greeted: schedule a refresh if its credential expires. */
  onOpen(session: SessionReadyFrame): void {
    this.reset();
    if (typeof session.expires_in_ms === 'number') this.schedule(session.expires_in_ms);
  }

  /** Whether this client sent the refresh `id` (its `error` answer is the refresher's). */
  owns(id: string | undefined): boolean {
    return id !== undefined && id === this.pendingId;
  }

  onRefreshed(frame: AuthRefreshedFrame): void {
    if (!this.owns(frame.id)) return;
    this.pendingId = undefined;
    this.schedule(frame.expires_in_ms);
  }

  /**
   * The refresh was refused: asked again after a backoff, at most {@link MAX_REFRESH_RETRIES}
   * times and never past expiry. After that the socket closes at expiry (4401) and the reconnect
   * asks `getToken` for a fresh token, as after any refused token.
   */
  onRefused(): void {
    this.pendingId = undefined;
    this.retry();
  }

  /** The socket is gone: nothing to refresh until the next one. */
  reset(): void {
    this.generation += 1;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pendingId = undefined;
    this.expiresAt = undefined;
  }

  private schedule(expiresInMs: number): void {
    clearTimeout(this.timer);
    this.retries = 0;
    this.expiresAt = Date.now() + expiresInMs;
    const generation = this.generation;
    this.timer = setTimeout(() => void this.refresh(generation), refreshDelay(expiresInMs));
  }

  /** Schedules the next try of a refused or failed refresh, if one is left and lands before expiry. */
  private retry(): void {
    if (this.retries >= MAX_REFRESH_RETRIES || this.expiresAt === undefined) return;
    const delay = REFRESH_RETRY_BASE_MS * 2 ** this.retries;
    if (Date.now() + delay >= this.expiresAt) return;
    this.retries += 1;
    const generation = this.generation;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(generation), delay);
  }

  private async refresh(generation: number): Promise<void> {
    this.timer = undefined;
    let token: string | null | undefined;
    try {
      token = await this.link.getToken({ refresh: true, reason: 'expiring' });
    } catch {
      // Perhaps a passing failure (the identity provider away): tried again while time is left.
      if (generation === this.generation) this.retry();
      return;
    }
    // null: the application has no new token. The socket closes at expiry; the reconnect asks again.
    if (!token || generation !== this.generation) return;
    this.pendingId = `auth_${++this.sequence}`;
    this.link.send({ type: 'auth.refresh', id: this.pendingId, token });
  }
}
