import { TokenBucket } from './token-bucket';

/** Full buckets are forgotten on this cadence, so the map holds only recently active keys. */
const SWEEP_EVERY_MS = 60_000;

/** One {@link TokenBucket} per key (a principal), created on first use and forgotten once full again. */
export class KeyedTokenBuckets {
  private readonly buckets = new Map<string, TokenBucket>();
  private lastSweep = 0;

  constructor(
    private readonly capacity: number,
    private readonly periodMs: number,
  ) {}

  /** The bucket of `key`, after forgetting every full bucket if a sweep is due. */
  get(key: string, now: number): TokenBucket {
    if (now - this.lastSweep >= SWEEP_EVERY_MS) this.sweep(now);
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(this.capacity, this.periodMs, now);
      this.buckets.set(key, bucket);
    }
    return bucket;
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) if (bucket.isFull(now)) this.buckets.delete(key);
  }
}
