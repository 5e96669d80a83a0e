import type { RedisService } from '../redis/redis.service';

/** A shared limit waits at most this long for Redis, then decides on this instance's own counts. */
export const SHARED_LIMIT_TIMEOUT_MS = 500;
/** While a limit keeps falling back, it says so at most once per this interval. */
const NOTICE_EVERY_MS = 60_000;

/**
 * Reports that a limit shared across replicas fell back to counting on this instance alone:
 * through {@link RedisService.failed} (the `redis_errors_total{operation}` counter and a `redis_error`
 * warning), at once for the first fallback after Redis was up, then at most once a minute while it
 * lasts, so an outage under load does not become a log flood.
 */
export class FallbackNotice {
  private lastAt = -Infinity;

  constructor(
    private readonly redis: RedisService,
    private readonly operation: string,
    private readonly meaning: string,
  ) {
    redis.onUp(() => (this.lastAt = -Infinity));
  }

  note(error?: unknown, now = Date.now()): void {
    if (now - this.lastAt < NOTICE_EVERY_MS) return;
    this.lastAt = now;
    const cause = (error as Error | undefined)?.message ?? 'Redis is unreachable';
    this.redis.failed(this.operation, new Error(`${cause}; ${this.meaning}`));
  }
}
