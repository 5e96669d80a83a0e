/**
 * Leased tokens for the shared request rate: the rules with a scripted point source, then
 * SharedRequestRate on a private redis-server (several RedisService connections stand for several
 * replicas), its exactness and its cost in Redis commands as INFO commandstats counts them. Time is
 * an injected clock. Skips visibly without redis-server, fails under REQUIRE_REDIS=1.
 */
import { RateLimiterRes } from 'rate-limiter-flexible';
import { parseConfig } from '../config/config.schema';
import { MetricsService } from '../metrics/metrics.service';
import { RedisService } from '../redis/redis.service';
import { TestRedis } from '../../test/support/redis-server';
import { InstanceInsurance } from './instance-insurance';
import { freeOfRefused, LeasedRate, leaseCap } from './leased-rate';
import { SharedRequestRate } from './shared-request-rate';

const quiet = { info: () => undefined, warn: () => undefined } as never;
const WINDOW_MS = 60_000;

describe('leaseCap and freeOfRefused', () => {
  it('caps a lease at a 32nd of the limit, at least one point', () => {
    expect([1, 31, 32, 120, 1_000].map(leaseCap)).toEqual([1, 1, 1, 3, 31]);
  });

  it('grants the points of a refused block that were still under the limit, none after an in-memory block', () => {
    // 95 counted before a block of 8: 103 now, 5 of ours were free.
    expect(freeOfRefused(8, new RateLimiterRes(0, 1_000, 103), 100)).toBe(5);
    expect(freeOfRefused(8, new RateLimiterRes(0, 1_000, 108), 100)).toBe(0);
    expect(freeOfRefused(8, new RateLimiterRes(0, 1_000, 150), 100)).toBe(0);
    // RateLimiterRedis's in-memory block answers consumedPoints 0 and counted nothing.
    expect(freeOfRefused(8, new RateLimiterRes(0, 1_000, 0), 100)).toBe(0);
  });
});

describe('LeasedRate (scripted source)', () => {
  /** A source counting like RateLimiterMemory, with one window that never ends on its own. */
  function counter(limit: number) {
    const asked: number[] = [];
    let consumed = 0;
    return {
      asked,
      reset: () => (consumed = 0),
      consume(_key: string, points: number): Promise<RateLimiterRes> {
        asked.push(points);
        consumed += points;
        const res = new RateLimiterRes(Math.max(0, limit - consumed), WINDOW_MS, consumed);
        return consumed > limit ? Promise.reject(res) : Promise.resolve(res);
      },
    };
  }

  it('doubles a lease used up quickly up to the cap, and goes back to one point for a principal that asks rarely', async () => {
    let now = 0;
    const source = counter(1_000);
    const rate = new LeasedRate({ limit: 1_000, source, clock: () => now });
    for (let i = 0; i < 1 + 2 + 4 + 8 + 16 + 31 + 1; i++) expect(await rate.take('p')).toBe(0);
    expect(source.asked).toEqual([1, 2, 4, 8, 16, 31, 31]);
    // 30 tokens still held; used up slowly, the next lease is a single point.
    for (let i = 0; i < 30; i++) expect(rate.take('p')).toBe(0);
    now += 2_001;
    expect(await rate.take('p')).toBe(0);
    expect(source.asked.at(-1)).toBe(1);
  });

  it('takes single points from the insurance, as the fallback always counted', async () => {
    const source = counter(1_000);
    const rate = new LeasedRate({ limit: 1_000, source, answeredLocally: () => true, clock: () => 0 });
    for (let i = 0; i < 5; i++) expect(await rate.take('p')).toBe(0);
    expect(source.asked).toEqual([1, 1, 1, 1, 1]);
  });

  it("knows the insurance's answers, admitted or refused, from anyone else's", async () => {
    const insurance = new InstanceInsurance({ points: 1, duration: 60 }, () => undefined);
    const admitted = await insurance.consume('p');
    const refused = await insurance.consume('p').catch((res: RateLimiterRes) => res);
    expect([insurance.answered(admitted), insurance.answered(refused), insurance.answered(new RateLimiterRes())]).toEqual([true, true, false]);
  });

  it('hands an error other than a refusal to every request waiting for that lease', async () => {
    const rate = new LeasedRate({ limit: 10, source: { consume: () => Promise.reject(new Error('boom')) }, clock: () => 0 });
    await expect(Promise.all([rate.take('p'), rate.take('p')])).rejects.toThrow('boom');
  });

  it('drops the state of principals whose window has ended', async () => {
    let now = 0;
    const rate = new LeasedRate({ limit: 1_000, source: counter(1_000_000), clock: () => now });
    await Promise.all(Array.from({ length: 100 }, (_, i) => rate.take(`p${i}`)));
    expect(rate.trackedPrincipals).toBe(100);
    now += WINDOW_MS;
    await rate.take('someone else');
    expect(rate.trackedPrincipals).toBe(1);
  });
});

describe('leased request rate on Redis', () => {
  let server: TestRedis | undefined;
  const services: RedisService[] = [];

  beforeEach(async () => {
    server = await TestRedis.start();
  });
  afterEach(async () => {
    for (const redis of services.splice(0)) await redis.onApplicationShutdown();
    await server?.down();
  });

  /** One replica's limiter (its own Redis connections) on `clock`. */
  async function replica(limit: number, clock: () => number = Date.now) {
    const redis = new RedisService(parseConfig({ REDIS_URL: server!.url }), new MetricsService(), quiet);
    services.push(redis);
    await new Promise<void>((resolve) => redis.onUp(resolve));
    jest.spyOn(redis, 'failed').mockImplementation(() => undefined);
    return new SharedRequestRate(redis, limit, clock);
  }

  /** The limiter's script (EVALSHA or EVAL) and its inner calls, as INFO commandstats counts them. */
  const LIMITER_COMMANDS = ['evalsha', 'eval', 'set', 'incrby', 'pttl', 'expire'];
  async function commandStats(): Promise<Record<string, number>> {
    const text = String(await server!.command('INFO', 'commandstats'));
    const calls: Record<string, number> = {};
    for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1]!] = Number(m[2]);
    return calls;
  }
  /** Limiter commands (and INCRBYs: one per lease) run by `work`, as deltas: the server is not reset. */
  async function counted(work: () => Promise<void>): Promise<{ commands: number; leases: number }> {
    const before = await commandStats();
    await work();
    const after = await commandStats();
    const delta = (name: string) => (after[name] ?? 0) - (before[name] ?? 0);
    return { commands: LIMITER_COMMANDS.reduce((sum, name) => sum + delta(name), 0), leases: delta('incrby') };
  }

  it('admits exactly the limit across three replicas under concurrent takes; the rest wait out the window', async () => {
    if (!server) return;
    const replicas = [await replica(100), await replica(100), await replica(100)];
    const takes: Array<number | Promise<number>> = [];
    for (let i = 0; i < 150; i++) for (const rate of replicas) takes.push(rate.take('alice'));
    const answers = await Promise.all(takes);
    // Leases of 1 then 3 (the cap) from each replica: 3 + 3k never lands on 100, so the block that
    // crosses it is refused; its free point is granted rather than lost.
    expect(answers.filter((ms) => ms === 0)).toHaveLength(100);
    for (const ms of answers.filter((ms) => ms !== 0)) {
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThanOrEqual(WINDOW_MS);
    }
    expect(Number(await server.command('GET', 'hsg:rl:alice'))).toBeGreaterThanOrEqual(100);
  });

  it('costs a busy principal a fraction of a command per request, and one that asks once the 4 of a single consume', async () => {
    if (!server) return;
    const rate = await replica(1_000, () => 0);
    const answers: number[] = [];
    const busy = await counted(async () => {
      for (let i = 0; i < 1_000; i++) answers.push(await rate.take('busy'));
    });
    expect(answers.filter((ms) => ms === 0)).toHaveLength(1_000);
    const once = await counted(async () => {
      expect(await rate.take('quiet')).toBe(0);
    });
    // eslint-disable-next-line no-console
    console.log(`busy principal: ${busy.commands} commands (${busy.leases} leases) for 1000 requests, ${(busy.commands / 1_000).toFixed(3)} per request; a principal asking once: ${once.commands}`);
    expect(busy.commands / 1_000).toBeLessThanOrEqual(0.5);
    expect(once).toEqual({ commands: 4, leases: 1 });
    expect(await rate.take('busy')).toBeGreaterThan(0);
  });

  it('requests arriving while a lease is in flight share it; the next lease is sized for those still waiting', async () => {
    if (!server) return;
    const rate = await replica(320, () => 0);
    let answers: number[] = [];
    const { leases } = await counted(async () => {
      answers = await Promise.all(Array.from({ length: 10 }, () => rate.take('bob')));
    });
    expect(answers).toEqual(Array(10).fill(0));
    // One point for the first request, then one lease of 9 for the nine that waited on it.
    expect(leases).toBe(2);
    expect(await server.command('GET', 'hsg:rl:bob')).toBe('10');
  });

  it('leaves tokens leased in a window unused in the next one', async () => {
    if (!server) return;
    let now = 1_000_000;
    const rate = await replica(320, () => now);
    // Idle principals' state is swept once a minute, which would void carol's tokens too: these
    // takes place the sweeps at -30 s and +30 s, so at +60 s the tokens' own expiry must refuse them.
    now -= 30_000;
    await rate.take('dave');
    now += 30_000;
    // Leases of 1, 2, 4 used up, then one of 8 of which 7 stay held.
    for (let i = 0; i < 8; i++) expect(await rate.take('carol')).toBe(0);
    expect(await server.command('GET', 'hsg:rl:carol')).toBe('15');
    now += 30_000;
    await rate.take('dave');
    expect(rate.trackedPrincipals).toBe(2);
    // The window ends: on this instance's clock, and in Redis (the key's TTL ran out: DEL stands in).
    now += 30_000;
    await server.command('DEL', 'hsg:rl:carol');
    expect(await rate.take('carol')).toBe(0);
    expect(await server.command('GET', 'hsg:rl:carol')).toBe('1');
    // The new window admits the limit and no more: nothing carried over.
    let admitted = 1;
    for (let i = 0; i < 330; i++) if ((await rate.take('carol')) === 0) admitted++;
    expect(admitted).toBe(320);
  });
});
