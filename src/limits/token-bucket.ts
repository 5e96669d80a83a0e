/**
 * A token bucket: `capacity` tokens, refilled continuously at `capacity` per `periodMs`. Allows a
 * burst up to the capacity and a sustained rate of capacity/period. No timers: refill is computed
 * from elapsed time on each call.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;
  private readonly refillPerMs: number;

  constructor(
    private readonly capacity: number,
    periodMs: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.updatedAt = now;
    this.refillPerMs = capacity / periodMs;
  }

  /** Takes one token; returns 0 on success, else the milliseconds until one is available. */
  take(now: number): number {
    this.refill(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.tokens) / this.refillPerMs);
  }

  /**
   * Takes `amount` tokens even when fewer are left (the bucket goes into debt: the cost was already
   * paid); returns 0 while the balance stays ≥ 0, else the milliseconds until it is back to 0.
   */
  charge(amount: number, now: number): number {
    this.refill(now);
    this.tokens -= amount;
    return this.tokens >= 0 ? 0 : Math.ceil(-this.tokens / this.refillPerMs);
  }

  /** True when the bucket is back to full, i.e. forgetting it changes nothing. */
  isFull(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.capacity;
  }

  private refill(now: number): void {
    const elapsed = now - this.updatedAt;
    if (elapsed > 0) {
      this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.refillPerMs);
      this.updatedAt = now;
    }
  }
}
