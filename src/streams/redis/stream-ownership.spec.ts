import { parseConfig } from '../../config/config.schema';
import type { MetricsService } from '../../metrics/metrics.service';
import { RedisService } from '../../redis/redis.service';
import { TestRedis } from '../../../test/support/redis-server';
import { FramePrefixes } from '../record-frame';
import { PRODUCER_DIED } from '../stream-errors';
import type { StreamRecord } from '../stream-record';
import { metaKey, ownEntry, streamKey, type RawBufferEntry } from './redis-log-format';
import { StreamOwnership } from './stream-ownership';

/**
 * Who may end a stream (issue 21 items 2–3): an owner is declared dead only when its lease has
 * been missing at every check for longer than a lease (one look is not enough: a FLUSHALL takes a
 * live owner's lease too); a refused XADD is told apart by its entry (the owner's own bytes: its
 * write had landed; another's: it is fenced). Time is the test's (Date.now mocked), Redis is real.
 */
const quiet = { info: () => undefined, warn: () => undefined } as never;
const metrics = { redisError: () => undefined, gauge: () => undefined } as unknown as MetricsService;
const LEASE_MS = 1_500;

describe('StreamOwnership', () => {
  let server: TestRedis | undefined;
  let redis: RedisService;
  let now = 1_000_000;

  beforeEach(async () => {
    server = await TestRedis.start();
    if (!server) return;
    redis = new RedisService(parseConfig({ REDIS_URL: server.url }), metrics, quiet);
    await new Promise<void>((resolve) => redis.onUp(resolve));
    jest.spyOn(Date, 'now').mockImplementation(() => now);
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    if (!server) return;
    await redis.onApplicationShutdown();
    await server.down();
  });

  it('dead: a lease missing at every check for longer than INSTANCE_LEASE_MS, not before; a lease back is alive again', async () => {
    if (!server) return;
    const ownership = new StreamOwnership(redis, LEASE_MS, 60_000);
    const owner = 'gw_owner';
    await redis.client!.set(`hsg:lease:${owner}`, '1');
    expect(await ownership.dead([owner])).toEqual(new Set());
    // The lease goes (a flush): missing at the first check, and for a lease's time after it: alive.
    await redis.client!.del(`hsg:lease:${owner}`);
    expect(await ownership.dead([owner])).toEqual(new Set());
    now += LEASE_MS;
    expect(await ownership.dead([owner, owner])).toEqual(new Set());
    // The owner set it again (it was alive): the count starts over.
    await redis.client!.set(`hsg:lease:${owner}`, '1');
    now += 1;
    expect(await ownership.dead([owner])).toEqual(new Set());
    await redis.client!.del(`hsg:lease:${owner}`);
    now += 1;
    expect(await ownership.dead([owner])).toEqual(new Set());
    now += LEASE_MS;
    expect(await ownership.dead([owner])).toEqual(new Set());
    // Missing at every check for longer than a lease: dead.
    now += 1;
    expect(await ownership.dead([owner])).toEqual(new Set([owner]));
  });

  it('dead: checks a long while apart count from the later one (what happened between is unknown)', async () => {
    if (!server) return;
    const ownership = new StreamOwnership(redis, LEASE_MS, 60_000);
    expect(await ownership.dead(['gw_gone'])).toEqual(new Set());
    now += 20 * LEASE_MS;
    expect(await ownership.dead(['gw_gone'])).toEqual(new Set());
    now += LEASE_MS + 1;
    expect(await ownership.dead(['gw_gone'])).toEqual(new Set(['gw_gone']));
  });

  it('endOrphaned ends a log once, at the seq after its last; refused (false) when the owner wrote that seq', async () => {
    if (!server) return;
    const ownership = new StreamOwnership(redis, LEASE_MS, 60_000);
    await redis.client!.xadd(streamKey('s1'), '1-0', '1', 'a');
    expect(await ownership.endOrphaned('s1', 'q1', 1, true)).toBe(true);
    expect(await ownership.endOrphaned('s1', 'q1', 1, true)).toBe(false);
    // Log format 1: the end state in the meta hash too, for the release before; format 2 makes no hash.
    expect(await redis.client!.hgetall(metaKey('s1'))).toEqual({ state: 'failed', last_seq: '2' });
    await redis.client!.xadd(streamKey('s3'), '1-0', '1', 'a');
    expect(await ownership.endOrphaned('s3', 'q1', 1, false)).toBe(true);
    expect(await redis.client!.exists(metaKey('s3'))).toBe(0);
    expect(await redis.client!.pttl(streamKey('s3'))).toBeGreaterThan(0);
    await redis.client!.xadd(streamKey('s2'), '1-0', '1', 'a', '2', 'b');
    // A reader that saw seq 1 only: the owner's entry already holds 2, so its end at 2 is refused.
    expect(await ownership.endOrphaned('s2', 'q1', 0, true)).toBe(false);
    expect(ownership.isIdTaken(new Error('ERR The ID specified in XADD is equal or smaller than the target stream top item'))).toBe(true);
    expect(ownership.isIdTaken(new Error('ERR wrong number of arguments'))).toBe(false);
  });
});

describe('ownEntry: a refused XADD’s entry, the owner’s own or another’s', () => {
  const payload = new Map<number, Buffer>([
    [1, Buffer.from('{"type":"chat.chunk","id":"q","seq":1}')],
    [2, Buffer.from('{"type":"chat.chunk","id":"q","seq":2}')],
  ]);
  const record = { payloadOf: (seq: number) => payload.get(seq), sizeOf: (seq: number) => payload.get(seq)!.length } as unknown as StreamRecord;
  const entry = (...fields: Array<[number, Buffer]>): RawBufferEntry => [Buffer.from(`${fields[0]![0]}-0`), fields.flatMap(([seq, value]) => [Buffer.from(String(seq)), value])];

  it('the owner’s bytes: its write landed (the seqs and size it holds)', () => {
    expect(ownEntry(entry([1, payload.get(1)!], [2, payload.get(2)!]), record)).toEqual({ first: 1, last: 2, bytes: payload.get(1)!.length + payload.get(2)!.length });
  });

  it('other bytes at a seq the owner holds: another writer’s (fenced)', () => {
    expect(ownEntry(entry([1, payload.get(1)!], [2, Buffer.from('{"type":"chat.chunk","id":"q","seq":2,"x":1}')]), record)).toBeUndefined();
  });

  it('a seq the owner no longer holds: its own, unless it is the end a reader writes for a dead owner', () => {
    const orphanEnd = Buffer.from(new FramePrefixes('q').render({ seq: 3, type: 'chat.error', rest: `,"seq":3,"message":${JSON.stringify(PRODUCER_DIED.message)}}` }));
    expect(ownEntry(entry([3, Buffer.from('{"type":"chat.chunk","seq":3}')]), record)).toEqual({ first: 3, last: 3, bytes: expect.any(Number) });
    expect(ownEntry(entry([3, orphanEnd]), record)).toBeUndefined();
  });

  it('an entry with no frames is nobody’s', () => {
    expect(ownEntry([Buffer.from('1-0'), []], record)).toBeUndefined();
  });

  it('log format 2: the entry of the meta alone (a stream with no frame yet) is the owner’s, holding no frame', () => {
    expect(ownEntry([Buffer.from('0-1'), [Buffer.from('m'), Buffer.from('{"principal":"p"}')]], record)).toEqual({ first: 0, last: 0, bytes: 0 });
  });

  it('log format 2: the meta a first entry starts with is not a frame (the entry is still the owner’s)', () => {
    const [id, fields] = entry([1, payload.get(1)!], [2, payload.get(2)!]);
    expect(ownEntry([id, [Buffer.from('m'), Buffer.from('{"principal":"p"}'), ...fields]], record)).toEqual({ first: 1, last: 2, bytes: payload.get(1)!.length + payload.get(2)!.length });
  });
});
