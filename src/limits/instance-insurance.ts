import { RateLimiterMemory, type RateLimiterRes } from 'rate-limiter-flexible';

/** rate-limiter-flexible's in-memory limiter, telling `onUse` each time it stands in for Redis. */
export class InstanceInsurance extends RateLimiterMemory {
  constructor(
    options: ConstructorParameters<typeof RateLimiterMemory>[0],
    private readonly onUse: () => void,
  ) {
    super(options);
  }

  override consume(key: string | number, points?: number, options?: { [key: string]: unknown }): Promise<RateLimiterRes> {
    this.onUse();
    return super.consume(key, points, options);
  }
}
