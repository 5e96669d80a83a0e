import { Injectable } from '@nestjs/common';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { TokenBucket } from './token-bucket';

const MINUTE_MS = 60_000;
/** Full buckets are forgotten on this cadence, so the map holds only recently active principals. */
const SWEEP_EVERY_MS = MINUTE_MS;

/**
 * `RATE_LIMIT_REQUESTS_PER_MINUTE` per principal on this instance: a token bucket of that size,
 * refilled over a minute (bursts up to the limit, then the sustained rate). Buckets outlive
 * sockets, so reconnecting does not reset a principal's budget.
 */
@Injectable()
export class RequestRateLimiterService {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly perMinute: number;
  private lastSweep = 0;

  constructor(@InjectConfig() config: GatewayConfig) {
    this.perMinute = config.limits.requestsPerMinute;
  }

  /** Counts one request; returns 0 when allowed, else `retry_after_ms`. */
  take(principal: string, now = Date.now()): number {
    if (now - this.lastSweep >= SWEEP_EVERY_MS) this.sweep(now);
    let bucket = this.buckets.get(principal);
    if (!bucket) {
      bucket = new TokenBucket(this.perMinute, MINUTE_MS, now);
      this.buckets.set(principal, bucket);
    }
    return bucket.take(now);
  }

  get trackedPrincipals(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [principal, bucket] of this.buckets) if (bucket.isFull(now)) this.buckets.delete(principal);
  }
}
