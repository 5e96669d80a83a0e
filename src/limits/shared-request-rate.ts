import { RateLimiterRedis, RateLimiterRes, RLWrapperTimeouts } from 'rate-limiter-flexible';
import { KEY_PREFIX, type RedisService } from '../redis/redis.service';
import { InstanceInsurance } from './instance-insurance';
import { FallbackNotice, SHARED_LIMIT_TIMEOUT_MS } from './redis-fallback';

/** Keys are `hsg:rl:<principal>` (rate-limiter-flexible joins prefix and key with `:`). */
export const RATE_KEY_PREFIX = `${KEY_PREFIX}rl`;
const WINDOW_SECONDS = 60;

/**
 * `RATE_LIMIT_REQUESTS_PER_MINUTE` per principal across every replica sharing the Redis:
 * rate-limiter-flexible's `RateLimiterRedis` (one atomic Lua INCR + PTTL per request, keys
 * `hsg:rl:<principal>`), a fixed one-minute window that opens at the principal's first request.
 *
 * - **Redis down or slow** (not ready, an error, or no answer within {@link SHARED_LIMIT_TIMEOUT_MS}):
 *   its `insuranceLimiter`, a `RateLimiterMemory` of the same size, counts on this instance alone
 *   until Redis answers again; {@link FallbackNotice} reports it.
 * - **A principal over its limit** is then refused from this instance's memory until its window
 *   ends (`inMemoryBlockOnConsumed`), so a client hammering the gateway costs Redis nothing more.
 */
export class SharedRequestRate {
  private readonly limiter: RLWrapperTimeouts;

  constructor(redis: RedisService, requestsPerMinute: number) {
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
    this.limiter = new RLWrapperTimeouts({ limiter: shared, timeoutMs: SHARED_LIMIT_TIMEOUT_MS, insuranceLimiter: insurance });
  }

  /** Counts one request of `principal`; resolves 0 when allowed, else `retry_after_ms` (the rest of its window). */
  async take(principal: string): Promise<number> {
    try {
      await this.limiter.consume(principal);
      return 0;
    } catch (refusal) {
      if (refusal instanceof RateLimiterRes) return Math.max(1, Math.ceil(refusal.msBeforeNext));
      throw refusal;
    }
  }
}
