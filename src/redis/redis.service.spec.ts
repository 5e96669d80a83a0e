import { DeadlineError } from '../async/race-timeout';
import { parseConfig } from '../config/config.schema';
import type { MetricsService } from '../metrics/metrics.service';
import { TestRedis, upAgain } from '../../test/support/redis-server';
import { RedisService } from './redis.service';

/**
 * A call on the command connection that is not answered in time (RedisService.bounded): a frozen
 * Redis, or an answer lost with a node. Redis, on a private redis-server, is real.
 */
describe('RedisService.bounded', () => {
  let server: TestRedis | undefined;
  let redis: RedisService;
  const errors: string[] = [];
  const warnings: Array<Record<string, unknown>> = [];

  beforeEach(async () => {
    errors.length = 0;
    warnings.length = 0;
    server = await TestRedis.start();
    if (!server) return;
    const metrics = { redisError: (operation: string) => errors.push(operation), gauge: () => undefined } as unknown as MetricsService;
    const logger = { info: () => undefined, warn: (fields: Record<string, unknown>) => warnings.push(fields) } as never;
    redis = new RedisService(parseConfig({ REDIS_URL: server.url }), metrics, logger);
    await new Promise<void>((resolve) => redis.onUp(resolve));
  });
  afterEach(async () => {
    if (!server) return;
    server.thaw();
    await redis.onApplicationShutdown();
    await server.down();
  });

  it('an answer in time is the call’s own, and changes nothing', async () => {
    if (!server) return;
    expect(await redis.bounded(redis.client!.ping(), 'ping', 1_000)).toBe('PONG');
    expect(redis.up).toBe(true);
    expect(errors).toEqual([]);
  });

  it('an answer that never comes while Redis answers the rest: a DeadlineError, Redis down at once, the connection replaced and up again', async () => {
    if (!server) return;
    const back = upAgain(redis);
    const lost = redis.bounded(new Promise(() => undefined), 'log write', 100);
    const second = redis.bounded(new Promise(() => undefined), 'lease', 100);
    await expect(lost).rejects.toBeInstanceOf(DeadlineError);
    expect(redis.up).toBe(false);
    await expect(second).rejects.toBeInstanceOf(DeadlineError);
    // One outage, told once, whichever calls ran into it.
    expect(errors).toEqual(['stalled']);
    expect(warnings).toEqual([expect.objectContaining({ event: 'redis_stalled', operation: 'log write' })]);
    await back;
    expect(redis.up).toBe(true);
    expect(await redis.client!.ping()).toBe('PONG');
  });

  it('a frozen Redis (SIGSTOP): what was in flight fails instead of waiting, Redis stays down while frozen, and is up again after SIGCONT', async () => {
    if (!server) return;
    server.freeze();
    const inFlight = redis.client!.set('k', 'v');
    await expect(redis.bounded(redis.client!.get('k'), 'lease', 100)).rejects.toBeInstanceOf(DeadlineError);
    expect(redis.up).toBe(false);
    // The connection is closed (destroyed, once its close is not answered): the call sent before fails.
    await expect(inFlight).rejects.toThrow();
    expect(redis.up).toBe(false);
    const back = upAgain(redis);
    server.thaw();
    await back;
    expect(await redis.client!.ping()).toBe('PONG');
  });
});
