import { RateLimiterRedis, RLWrapperTimeouts } from 'rate-limiter-flexible';
import { KEY_PREFIX, type RedisService } from '../redis/redis.service';
import { InstanceInsurance } from './instance-insurance';
import { LeasedRate } from './leased-rate';
import { FallbackNotice, SHARED_LIMIT_TIMEOUT_MS } from './redis-fallback';

/** Keys are `hsg:rl:<principal>` (rate-limiter-flexible joins prefix and key with `:`). */
export const RATE_KEY_PREFIX = `${KEY_PREFIX}rl`;
const WINDOW_SECONDS = 60;

/**
 * `RATE_LIMIT_REQUESTS_PER_MINUTE` per principal across every replica sharing the Redis:
 * rate-limiter-flexible's `RateLimiterRedis` (one atomic Lua INCRBY + PTTL per call, keys
 * `hsg:rl:<principal>`), a fixed one-minute window that opens at the principal's first request,
 * counted a block of points at a time ({@link LeasedRate}): a busy principal's requests mostly
 * take a token this instance already holds, without a round trip. A lease is at most
 * `max(1, floor(limit / 32))` points, so worst case the fleet refuses instances × that many of a
 * principal's requests early per window; it never admits more than the limit.
 *
 * - **Redis down or slow** (not ready, an error, or no answer within {@link SHARED_LIMIT_TIMEOUT_MS}):
 *   its `insuranceLimiter`, a `RateLimiterMemory` of the same size, counts on this instance alone
 *   until Redis answers again (a point at a time, as leases shrink to one on its answers);
 *   {@link FallbackNotice} reports it.
 * - **A principal over its limit** is then refused from this instance's memory until its window
 *   ends (`inMemoryBlockOnConsumed`), so a client hammering the gateway costs Redis nothing more.
 */
export class SharedRequestRate {
  private readonly leases: LeasedRate;

  constructor(redis: RedisService, requestsPerMinute: number, clock: () => number = Date.now) {
    const notice = new FallbackNotice(redis, 'rate_limit', 'RATE_LIMIT_REQUESTS_PER_MINUTE counts on this instance alone until Redis answers');
    const sizing = { points: requestsPerMinute, duration: WINDOW_SECONDS };
    const insurance = new InstanceInsurance(sizing, () => notice.note());
    const shared = new RateLimiterRedis({
      ...sizing,
      storeClient: redis.client!,
      keyPrefix: RATE_KEY_PREFIX,
      // The command connection queues nothing while Redis is away: go to the insurance at once.
      rejectIfRedisNotReady: true,
      inMemoryBlockOnConsumed: requestsPerMinute + 1,
      insuranceLimiter: insurance,
    });
    const limiter = new RLWrapperTimeouts({ limiter: shared, timeoutMs: SHARED_LIMIT_TIMEOUT_MS, insuranceLimiter: insurance });
    this.leases = new LeasedRate({
      limit: requestsPerMinute,
      source: { consume: (key, points) => limiter.consume(key, points) },
      answeredLocally: (res) => insurance.answered(res),
      clock,
    });
  }

  /**
   * Counts one request of `principal`: 0 when allowed, else `retry_after_ms` (the rest of its
   * window); a plain 0 when a leased token was at hand, a Promise when Redis had to be asked.
   */
  take(principal: string): number | Promise<number> {
    return this.leases.take(principal);
  }

  /** Principals with lease state on this instance. */
  get trackedPrincipals(): number {
    return this.leases.trackedPrincipals;
  }
}
