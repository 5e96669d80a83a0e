/**
 * The limits shared across replicas through Redis, on a private redis-server (two RedisService
 * connections stand for two replicas). Skips visibly without redis-server, fails under
 * REQUIRE_REDIS=1.
 */
import { parseConfig } from '../config/config.schema';
import { MetricsService } from '../metrics/metrics.service';
import { RedisService } from '../redis/redis.service';
import { TestRedis } from '../../test/support/redis-server';
import { connsCountKey, connsSetKey, ConnectionQuotaService } from './connection-quota.service';
import { FallbackNotice } from './redis-fallback';
import { RequestRateLimiterService } from './request-rate-limiter.service';

const quiet = { info: () => undefined, warn: () => undefined } as never;

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('FallbackNotice', () => {
  it('reports the first fallback at once, then at most once a minute, and again at once after Redis was back', () => {
    const upListeners: Array<() => void> = [];
    const redis = { onUp: (listener: () => void) => upListeners.push(listener), failed: jest.fn() };
    const notice = new FallbackNotice(redis as never, 'rate_limit', 'counting alone');
    notice.note(undefined, 0);
    notice.note(new Error('boom'), 59_999);
    expect(redis.failed).toHaveBeenCalledTimes(1);
    expect(redis.failed).toHaveBeenCalledWith('rate_limit', new Error('Redis is unreachable; counting alone'));
    notice.note(new Error('boom'), 60_000);
    expect(redis.failed).toHaveBeenLastCalledWith('rate_limit', new Error('boom; counting alone'));
    for (const listener of upListeners) listener();
    notice.note(undefined, 60_001);
    expect(redis.failed).toHaveBeenCalledTimes(3);
  });
});

describe('limits shared through Redis', () => {
  let server: TestRedis | undefined;
  /** Whether a test left the server stopped (TestRedis.down() must not be called twice in a row). */
  let stopped = false;
  const services: RedisService[] = [];
  const quotas: ConnectionQuotaService[] = [];

  beforeEach(async () => {
    server = await TestRedis.start();
    stopped = false;
  });
  afterEach(async () => {
    for (const quota of quotas.splice(0)) quota.onApplicationShutdown();
    for (const redis of services.splice(0)) {
      // A test that failed while Redis was down must not hang here on a QUIT nobody answers.
      if (stopped) for (const connection of [redis.client, redis.subscriber, redis.reader]) connection?.disconnect();
      else await redis.onApplicationShutdown();
    }
    if (!stopped) await server?.down();
  });
  async function stop() {
    stopped = true;
    await server!.down();
  }
  async function restart() {
    await server!.up();
    stopped = false;
  }

  /** One replica's view: its own Redis connections, config and limit services. */
  async function replica(env: Record<string, string>) {
    const config = parseConfig({ REDIS_URL: server!.url, INSTANCE_LEASE_MS: '600', ...env });
    const redis = new RedisService(config, new MetricsService(), quiet);
    services.push(redis);
    await new Promise<void>((resolve) => redis.onUp(resolve));
    const failed = jest.spyOn(redis, 'failed').mockImplementation(() => undefined);
    const rate = new RequestRateLimiterService(config, redis);
    const quota = new ConnectionQuotaService(config, redis);
    quotas.push(quota);
    return { redis, rate, quota, failed };
  }

  describe('RequestRateLimiterService', () => {
    it('counts a principal across replicas, refuses the 4th of 3 with the rest of its minute, in hsg:rl:<principal>', async () => {
      if (!server) return;
      const a = await replica({ RATE_LIMIT_REQUESTS_PER_MINUTE: '3' });
      const b = await replica({ RATE_LIMIT_REQUESTS_PER_MINUTE: '3' });
      expect([await a.rate.take('alice'), await b.rate.take('alice'), await a.rate.take('alice')]).toEqual([0, 0, 0]);
      const retryAfter = await b.rate.take('alice');
      expect(retryAfter).toBeGreaterThan(55_000);
      expect(retryAfter).toBeLessThanOrEqual(60_000);
      // Once refused, an instance refuses from memory until the window ends, without a round trip.
      expect(await a.rate.take('alice')).toBeGreaterThan(0);
      expect(await a.rate.take('alice')).toBeGreaterThan(0);
      expect(await b.rate.take('alice')).toBeGreaterThan(0);
      expect(await a.redis.client!.get('hsg:rl:alice')).toBe('5');
      expect(await b.rate.take('bob')).toBe(0);
      expect(a.failed).not.toHaveBeenCalled();
    });

    it('while Redis is down each replica counts alone (and says so); once back, the count is shared again', async () => {
      if (!server) return;
      const a = await replica({ RATE_LIMIT_REQUESTS_PER_MINUTE: '2' });
      const b = await replica({ RATE_LIMIT_REQUESTS_PER_MINUTE: '2' });
      await stop();
      await until(() => !a.redis.up && !b.redis.up);
      for (const r of [a, b]) {
        expect([await r.rate.take('alice'), await r.rate.take('alice')]).toEqual([0, 0]);
        expect(await r.rate.take('alice')).toBeGreaterThan(0);
        // Once per outage (then at most once a minute), not once per request.
        const notices = r.failed.mock.calls.filter(([operation]) => operation === 'rate_limit');
        expect(notices).toEqual([['rate_limit', expect.objectContaining({ message: expect.stringContaining('on this instance alone') })]]);
      }
      await restart();
      await until(() => a.redis.up && b.redis.up);
      // Redis came back empty: a fresh shared window, two requests across both replicas.
      expect([await a.rate.take('carol'), await b.rate.take('carol')]).toEqual([0, 0]);
      expect(await a.rate.take('carol')).toBeGreaterThan(0);
    });

    it('without REDIS_URL keeps the per-instance token bucket, answered synchronously', () => {
      const limiter = new RequestRateLimiterService(parseConfig({ RATE_LIMIT_REQUESTS_PER_MINUTE: '1' }));
      expect(limiter.take('a', 0)).toBe(0);
      expect(limiter.take('a', 0)).toBe(60_000);
    });
  });

  describe('ConnectionQuotaService', () => {
    it('grants places up to the limit across replicas; a refused one holds nothing; a release frees one', async () => {
      if (!server) return;
      const a = await replica({ MAX_CONNECTIONS_PER_PRINCIPAL: '2' });
      const b = await replica({ MAX_CONNECTIONS_PER_PRINCIPAL: '2' });
      const first = await a.quota.reserve('alice');
      const second = await b.quota.reserve('alice');
      expect([first, second].map(({ granted, shared }) => ({ granted, shared }))).toEqual([
        { granted: true, shared: true },
        { granted: true, shared: true },
      ]);
      const third = await a.quota.reserve('alice');
      expect(third).toMatchObject({ granted: false, shared: true });
      expect(a.quota.heldFor('alice')).toBe(1);
      expect(await a.redis.client!.get(connsCountKey('alice', a.quota.instance))).toBe('1');
      expect((await b.quota.reserve('bob')).granted).toBe(true);
      second.release();
      second.release(); // idempotent
      expect((await a.quota.reserve('alice')).granted).toBe(true);
      // B holds nothing of alice's any more: its count is gone, not left at 0.
      expect(await b.redis.client!.get(connsCountKey('alice', b.quota.instance))).toBeNull();
    });

    it('a refusal that crosses a rewrite of the hash leaves no phantom place behind', async () => {
      if (!server) return;
      const a = await replica({ MAX_CONNECTIONS_PER_PRINCIPAL: '2' });
      const b = await replica({ MAX_CONNECTIONS_PER_PRINCIPAL: '2' });
      await a.quota.reserve('alice');
      await a.quota.reserve('alice');
      // B's renewal found its hash gone while the admit script was in flight and wrote the hash
      // again from memory, the pending place included; then the script's refusal arrives.
      const refused = b.quota.reserve('alice');
      (b.quota as unknown as { rewrite(): void }).rewrite();
      expect(await refused).toMatchObject({ granted: false, shared: true });
      expect(await b.redis.client!.get(connsCountKey('alice', b.quota.instance))).toBeNull();
      expect(b.quota.heldFor('alice')).toBe(0);
    });

    it("a replica that dies leaves its share behind only until its lease lapses (INSTANCE_LEASE_MS)", async () => {
      if (!server) return;
      const a = await replica({ MAX_CONNECTIONS_PER_PRINCIPAL: '2' });
      const b = await replica({ MAX_CONNECTIONS_PER_PRINCIPAL: '2' });
      await a.quota.reserve('alice');
      await a.quota.reserve('alice');
      // A keeps renewing while it lives: past several leases, its share still counts.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect((await b.quota.reserve('alice')).granted).toBe(false);
      // A dies: nothing renews, nothing is cleaned up.
      a.quota.onApplicationShutdown();
      services.splice(services.indexOf(a.redis), 1);
      for (const connection of [a.redis.client, a.redis.subscriber, a.redis.reader]) connection?.disconnect();
      const diedAt = Date.now();
      let granted = false;
      while (!granted) {
        granted = (await b.quota.reserve('alice')).granted;
        if (!granted) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(Date.now() - diedAt).toBeLessThan(600 + 300);
      // Its name is dropped from alice's set of instances once its count is gone.
      expect(await b.redis.client!.smembers(connsSetKey('alice'))).toEqual([b.quota.instance]);
    });

    it('while Redis is down places are this replica\'s call (and it says so); once back, each writes its counts again', async () => {
      if (!server) return;
      const a = await replica({ MAX_CONNECTIONS_PER_PRINCIPAL: '2' });
      const b = await replica({ MAX_CONNECTIONS_PER_PRINCIPAL: '2' });
      await a.quota.reserve('alice');
      await stop();
      await until(() => !a.redis.up && !b.redis.up);
      const local = await a.quota.reserve('alice');
      expect(local).toMatchObject({ granted: true, shared: false });
      expect(a.failed).toHaveBeenCalledWith('connection_limit', expect.objectContaining({ message: expect.stringContaining('counts this instance alone') }));
      expect((await b.quota.reserve('alice')).shared).toBe(false);
      // Redis returns empty: A (2 of alice's) and B (1) write their counts again.
      await restart();
      await until(() => a.redis.up && b.redis.up);
      await until(async () => (await b.redis.client!.get(connsCountKey('alice', a.quota.instance))) === '2');
      expect(await b.redis.client!.get(connsCountKey('alice', b.quota.instance))).toBe('1');
      expect(await b.quota.reserve('alice')).toMatchObject({ granted: false, shared: true });
      local.release();
      await until(async () => (await b.redis.client!.get(connsCountKey('alice', a.quota.instance))) === '1');
    });
  });
});
