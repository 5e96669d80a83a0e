import { FrameFloodGuard } from './frame-flood-guard';
import { TokenBucket } from './token-bucket';
import { RequestRateLimiterService } from './request-rate-limiter.service';
import { parseConfig } from '../config/config.schema';

describe('TokenBucket', () => {
  it('allows a burst up to capacity, then refills at capacity per period', () => {
    const bucket = new TokenBucket(3, 60_000, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([0, 0, 0]);
    expect(bucket.take(0)).toBe(20_000);
    expect(bucket.take(19_999)).toBe(1);
    expect(bucket.take(20_000)).toBe(0);
    expect(bucket.isFull(20_000)).toBe(false);
    expect(bucket.isFull(80_000)).toBe(true);
  });
});

describe('RequestRateLimiterService', () => {
  const limiter = () => new RequestRateLimiterService(parseConfig({ RATE_LIMIT_REQUESTS_PER_MINUTE: '2' }));

  it('limits each principal separately and says when to retry', () => {
    const l = limiter();
    expect([l.take('a', 0), l.take('a', 0), l.take('b', 0)]).toEqual([0, 0, 0]);
    expect(l.take('a', 0)).toBe(30_000);
    expect(l.take('a', 30_000)).toBe(0);
  });

  it('forgets principals whose bucket is full again', () => {
    const l = limiter();
    l.take('a', 0);
    l.take('b', 0);
    expect(l.trackedPrincipals).toBe(2);
    l.take('c', 120_000);
    expect(l.trackedPrincipals).toBe(1);
  });
});

describe('FrameFloodGuard', () => {
  it('accepts up to the rate, warns once a second while dropping, and closes a sustained flood', () => {
    const guard = new FrameFloodGuard(5, 0);
    const verdicts = (t: number, n: number) => Array.from({ length: n }, () => guard.check(t));
    expect(verdicts(0, 5)).toEqual(Array(5).fill('accept'));
    expect(verdicts(0, 3)).toEqual(['drop-and-warn', 'drop', 'drop']);
    // Keep flooding: 20 frames every 500 ms.
    const seen = new Set<string>();
    for (let t = 500; t < 3_000; t += 500) for (const v of verdicts(t, 20)) seen.add(v);
    expect(seen.has('close')).toBe(false);
    expect(verdicts(3_000, 20)).toContain('close');
  });

  it('forgives a burst once the client calms down', () => {
    const guard = new FrameFloodGuard(5, 0);
    for (let i = 0; i < 10; i++) guard.check(0);
    expect(guard.check(2_000)).toBe('accept');
    // Long after: a new burst starts a new flood clock.
    for (let i = 0; i < 10; i++) guard.check(10_000);
    expect(guard.check(10_500)).not.toBe('close');
  });
});
