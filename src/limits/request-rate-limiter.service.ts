import { Injectable, Optional } from '@nestjs/common';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { RedisService } from '../redis/redis.service';
import { KeyedTokenBuckets } from './keyed-token-buckets';
import { SharedRequestRate } from './shared-request-rate';

/**
 * `RATE_LIMIT_REQUESTS_PER_MINUTE` per principal (and, for anonymous principals, per client address).
 *
 * - **Alone** (no `REDIS_URL`): on this instance, a token bucket of that size refilled over a
 *   minute (bursts up to the limit, then the sustained rate); answered synchronously.
 * - **With `REDIS_URL`**: across every replica sharing the Redis ({@link SharedRequestRate}, a
 *   one-minute window per principal, counted a leased block at a time), falling back to this
 *   instance's own count while Redis is away; answered synchronously from a leased token, else
 *   with a Promise.
 *
 * Either way the count outlives sockets, so reconnecting does not reset a principal's budget.
 */
@Injectable()
export class RequestRateLimiterService {
  private readonly buckets: KeyedTokenBuckets | undefined;
  private readonly shared: SharedRequestRate | undefined;

  constructor(@InjectConfig() config: GatewayConfig, @Optional() redis?: RedisService) {
    if (config.redis && redis?.enabled) this.shared = new SharedRequestRate(redis, config.limits.requestsPerMinute);
    else this.buckets = new KeyedTokenBuckets(config.limits.requestsPerMinute, 60_000);
  }

  /** Counts one request; 0 when allowed, else `retry_after_ms` (a Promise of it when Redis is asked). */
  take(principal: string, now = Date.now()): number | Promise<number> {
    if (this.shared) return this.shared.take(principal);
    return this.buckets!.get(principal, now).take(now);
  }

  /** Principals with a bucket on this instance (alone only). */
  get trackedPrincipals(): number {
    return this.buckets?.size ?? 0;
  }
}
