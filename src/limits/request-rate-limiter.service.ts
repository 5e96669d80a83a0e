import { Injectable } from '@nestjs/common';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { KeyedTokenBuckets } from './keyed-token-buckets';

/**
 * `RATE_LIMIT_REQUESTS_PER_MINUTE` per principal on this instance: a token bucket of that size,
 * refilled over a minute (bursts up to the limit, then the sustained rate). Buckets outlive
 * sockets, so reconnecting does not reset a principal's budget.
 */
@Injectable()
export class RequestRateLimiterService {
  private readonly buckets: KeyedTokenBuckets;

  constructor(@InjectConfig() config: GatewayConfig) {
    this.buckets = new KeyedTokenBuckets(config.limits.requestsPerMinute, 60_000);
  }

  /** Counts one request; returns 0 when allowed, else `retry_after_ms`. */
  take(principal: string, now = Date.now()): number {
    return this.buckets.get(principal, now).take(now);
  }

  get trackedPrincipals(): number {
    return this.buckets.size;
  }
}
