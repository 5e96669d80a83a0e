import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/** rate-limiter-flexible's in-memory limiter, telling `onUse` each time it stands in for Redis. */
export class InstanceInsurance extends RateLimiterMemory {
  /** Its own answers, so a caller can tell them from Redis's (weakly held: nothing to clean up). */
  private readonly answers = new WeakSet<RateLimiterRes>();

  constructor(
    options: ConstructorParameters<typeof RateLimiterMemory>[0],
    private readonly onUse: () => void,
  ) {
    super(options);
  }

  override consume(key: string | number, points?: number, options?: { [key: string]: unknown }): Promise<RateLimiterRes> {
    this.onUse();
    return super.consume(key, points, options).then(
      (res) => this.mark(res),
      (refusal: unknown) => {
        if (refusal instanceof RateLimiterRes) this.mark(refusal);
        throw refusal;
      },
    );
  }

  /** Whether `res` is an answer of this insurance (rather than of the limiter it stands in for). */
  answered(res: RateLimiterRes): boolean {
    return this.answers.has(res);
  }

  private mark(res: RateLimiterRes): RateLimiterRes {
    this.answers.add(res);
    return res;
  }
}
