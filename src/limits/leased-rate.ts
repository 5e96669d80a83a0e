import { RateLimiterRes } from 'rate-limiter-flexible';

/**
 * Where leases are taken: rate-limiter-flexible's `consume`, which resolves when the points fit in
 * the window and rejects with a {@link RateLimiterRes} when they do not (having counted them anyway).
 */
export interface PointSource {
  consume(key: string, points: number): Promise<RateLimiterRes>;
}

export interface LeasedRateOptions {
  /** Points per window (`RATE_LIMIT_REQUESTS_PER_MINUTE`). */
  limit: number;
  source: PointSource;
  /**
   * Whether an answer came from this instance's own insurance counter (Redis away or slow): leases
   * then shrink back to one point, so the fallback counts request by request as it always did.
   */
  answeredLocally?: (res: RateLimiterRes) => boolean;
  clock?: () => number;
}

/** A lease used up within this long of being granted was too small: the next one is twice as big. */
const GROW_WITHIN_MS = 2_000;
/** How often (at most) idle principals' lease state is dropped; see {@link LeasedRate.sweep}. */
const SWEEP_EVERY_MS = 60_000;

/** The most points one instance leases at once for a principal, so the most it can hold unused. */
export function leaseCap(limit: number): number {
  return Math.max(1, Math.floor(limit / 32));
}

/**
 * Of `asked` points that a consume refused, how many were still free: rate-limiter-flexible counts
 * all of them even when it refuses, so the window held `consumedPoints - asked` before and the
 * points up to the limit are ours (an atomic INCRBY hands each instance a disjoint range). An
 * in-memory block refuses with `consumedPoints` 0 without counting anything: none free.
 */
export function freeOfRefused(asked: number, refusal: RateLimiterRes, limit: number): number {
  if (refusal.consumedPoints <= limit) return 0;
  return Math.min(asked, Math.max(0, asked - (refusal.consumedPoints - limit)));
}

interface Waiter {
  resolve(retryAfterMs: number): void;
  reject(error: unknown): void;
}

interface PrincipalLease {
  /** Leased points not yet handed out. */
  tokens: number;
  /** When the window the tokens were taken in ends (this instance's clock); they are void from then. */
  expiresAt: number;
  /** When the last lease was answered. */
  grantedAt: number;
  /** The last lease's size (0: none yet). */
  size: number;
  /** The last lease came from the insurance: the next one is a single point. */
  local: boolean;
  inFlight: boolean;
  /** Requests waiting for the lease in flight (never more than the tokens it may bring: see `request`). */
  waiters: Waiter[];
}

/**
 * Leased tokens: a principal's requests are counted in the shared window a block at a time. This
 * instance takes N points in one `consume(principal, N)` and hands them out to the principal's
 * requests locally (synchronously) until they are used up or the window they were taken in ends,
 * then takes another block. Requests that arrive while a lease is in flight wait for that one
 * lease; if it brings fewer points than they are, the next lease is sized for all who still wait.
 *
 * - **Lease size** is 1 for a principal that asks rarely (it behaves exactly as one consume per
 *   request: nothing stranded), doubles each time a lease is used up within {@link GROW_WITHIN_MS},
 *   and is capped at {@link leaseCap} (`max(1, floor(limit / 32))`). So one instance holds at most
 *   that many unused points per principal: worst case the fleet strands instances × cap points per
 *   principal per window (refuses that many early), and never admits more than the limit.
 * - **Near the limit** a block that does not fit is refused but counted whole; the points that were
 *   still free ({@link freeOfRefused}) are granted anyway, so no request that fits is refused. Only
 *   when none were free is a request refused, with the window's remaining ms (`msBeforeNext`).
 * - **Window end**: tokens expire at the request's time + `msBeforeNext` of the lease's answer (at
 *   or before the window's real end, as the TTL was read after we asked), never carried over.
 * - **Memory**: a principal's state is dropped once its window has ended with nothing in flight
 *   (swept at most once a minute, on a `take`), so it is bounded by the principals active in the
 *   last two minutes or so.
 */
export class LeasedRate {
  private readonly cap: number;
  private readonly limit: number;
  private readonly source: PointSource;
  private readonly answeredLocally: (res: RateLimiterRes) => boolean;
  private readonly clock: () => number;
  private readonly leases = new Map<string, PrincipalLease>();
  private nextSweepAt = 0;

  constructor(options: LeasedRateOptions) {
    this.limit = options.limit;
    this.cap = leaseCap(options.limit);
    this.source = options.source;
    this.answeredLocally = options.answeredLocally ?? (() => false);
    this.clock = options.clock ?? Date.now;
  }

  /** Principals with lease state on this instance. */
  get trackedPrincipals(): number {
    return this.leases.size;
  }

  /** Counts one request: 0 at once from a held token, else a Promise of 0 or `retry_after_ms`. */
  take(principal: string): number | Promise<number> {
    const now = this.clock();
    this.sweep(now);
    let lease = this.leases.get(principal);
    if (!lease) {
      lease = { tokens: 0, expiresAt: 0, grantedAt: 0, size: 0, local: false, inFlight: false, waiters: [] };
      this.leases.set(principal, lease);
    }
    if (lease.tokens > 0 && now >= lease.expiresAt) lease.tokens = 0;
    if (lease.tokens > 0) {
      lease.tokens--;
      return 0;
    }
    const held = lease;
    return new Promise<number>((resolve, reject) => {
      held.waiters.push({ resolve, reject });
      if (!held.inFlight) this.request(principal, held, now);
    });
  }

  private nextSize(lease: PrincipalLease, now: number): number {
    const quickly = lease.size > 0 && !lease.local && now < lease.expiresAt && now - lease.grantedAt <= GROW_WITHIN_MS;
    return quickly ? Math.min(this.cap, lease.size * 2) : 1;
  }

  private request(principal: string, lease: PrincipalLease, now: number): void {
    // Sized for every request already waiting too: those points are used at once, none stranded.
    const size = Math.min(this.cap, Math.max(this.nextSize(lease, now), lease.waiters.length));
    lease.size = size;
    lease.inFlight = true;
    this.source.consume(principal, size).then(
      (res) => this.answer(principal, lease, now, size, res, false),
      (refusal: unknown) => {
        if (refusal instanceof RateLimiterRes) return this.answer(principal, lease, now, freeOfRefused(size, refusal, this.limit), refusal, true);
        lease.inFlight = false;
        for (const waiter of lease.waiters.splice(0)) waiter.reject(refusal);
      },
    );
  }

  private answer(principal: string, lease: PrincipalLease, askedAt: number, granted: number, res: RateLimiterRes, refused: boolean): void {
    lease.inFlight = false;
    lease.grantedAt = this.clock();
    lease.expiresAt = askedAt + res.msBeforeNext;
    lease.local = this.answeredLocally(res);
    const served = lease.waiters.splice(0, Math.min(granted, lease.waiters.length));
    lease.tokens = granted - served.length;
    for (const waiter of served) waiter.resolve(0);
    if (lease.waiters.length === 0) return;
    // Refused: the window is full (what was free went to the first waiters); the rest wait it out.
    if (refused) {
      const retryAfterMs = Math.max(1, Math.ceil(res.msBeforeNext));
      for (const waiter of lease.waiters.splice(0)) waiter.resolve(retryAfterMs);
      return;
    }
    // More arrived while it was in flight than it brought: one more lease, for all of them.
    this.request(principal, lease, this.clock());
  }

  /**
   * Drops the state of principals whose window has ended with nothing in flight: their tokens are
   * void and their next lease would be a single point anyway, so nothing is lost. A full pass at
   * most once per {@link SWEEP_EVERY_MS} keeps it O(1) per request amortised.
   */
  private sweep(now: number): void {
    if (now < this.nextSweepAt) return;
    this.nextSweepAt = now + SWEEP_EVERY_MS;
    for (const [principal, lease] of this.leases) {
      if (!lease.inFlight && now >= lease.expiresAt) this.leases.delete(principal);
    }
  }
}
