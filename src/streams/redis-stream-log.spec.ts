import { parseConfig } from '../config/config.schema';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import { MetricsService } from '../metrics/metrics.service';
import { RedisService } from '../redis/redis.service';
import { TestRedis } from '../../test/support/redis-server';
import { MemoryStreamLog } from './memory-stream-log';
import { RedisStreamLog } from './redis-stream-log';
import { describeStreamLog } from './stream-log.contract';
import { StreamOwnership } from './stream-ownership';

const RETENTION_MS = 300;
const quiet = { info: () => undefined, warn: () => undefined } as never;

/** A real Redis (a private redis-server); the records a producing instance would keep, replicated. */
describeStreamLog('RedisStreamLog', async () => {
  const server = await TestRedis.start();
  if (!server) return undefined;
  const config = parseConfig({ REDIS_URL: server.url });
  const redis = new RedisService(config, new MetricsService(new ConnectionRegistryService(), config), quiet);
  await new Promise<void>((resolve) => redis.onUp(resolve));
  const ownership = new StreamOwnership(redis, 5_000);
  await ownership.start(() => undefined);
  const log = new RedisStreamLog(redis, ownership, { batchMs: 5, retentionMs: RETENTION_MS, maxStreamBytes: 16 * 1024, runningTtlMs: 60_000 }, () => undefined);
  // The producing side keeps its frames in memory, as an instance does; Redis copies them.
  const local = new MemoryStreamLog({ maxStreamBytes: 1 << 20, maxTotalBytes: 1 << 30, retentionMs: 60_000, now: Date.now });
  return {
    log,
    produce: (meta) => {
      const record = local.create({ ...meta, owner: ownership.instance });
      log.replicate(record, () => undefined);
      return record;
    },
    settle: () => log.flushNow(),
    expire: async () => {
      await log.flushNow();
      await new Promise((resolve) => setTimeout(resolve, RETENTION_MS + 50));
    },
    close: async () => {
      log.close();
      local.close();
      await ownership.stop();
      await redis.onApplicationShutdown();
      await server.down();
    },
  };
});

/**
 * One replica's Redis log (and the in-memory records it copies) on a private redis-server, for a
 * test body; `logs` more logs on the same connection stand for other replicas. Skips without Redis.
 */
async function withRedisLogs(options: { batchMs: number; logs?: number; maxStreamBytes?: number }, body: (t: { redis: RedisService; logs: RedisStreamLog[]; local: MemoryStreamLog; ownership: StreamOwnership }) => Promise<void>) {
  const server = await TestRedis.start();
  if (!server) return;
  const config = parseConfig({ REDIS_URL: server.url });
  const redis = new RedisService(config, new MetricsService(new ConnectionRegistryService(), config), quiet);
  await new Promise<void>((resolve) => redis.onUp(resolve));
  const ownership = new StreamOwnership(redis, 5_000);
  await ownership.start(() => undefined);
  const logOptions = { batchMs: options.batchMs, retentionMs: 60_000, maxStreamBytes: options.maxStreamBytes ?? 1 << 20, runningTtlMs: 60_000 };
  const logs = Array.from({ length: options.logs ?? 1 }, () => new RedisStreamLog(redis, ownership, logOptions, () => undefined));
  const local = new MemoryStreamLog({ maxStreamBytes: 1 << 20, maxTotalBytes: 1 << 30, retentionMs: 60_000, now: Date.now });
  try {
    await body({ redis, logs, local, ownership });
  } finally {
    for (const log of logs) log.close();
    local.close();
    await ownership.stop();
    await redis.onApplicationShutdown();
    await server.down();
  }
}

describe('RedisStreamLog find', () => {
  it('finds a stream started elsewhere less than a batch window ago (its first batch is not written yet)', async () => {
    const batchMs = 300;
    // Two replicas' logs: A produces, B is asked to resume.
    await withRedisLogs({ batchMs, logs: 2 }, async ({ redis, logs: [a, b], local, ownership }) => {
      const record = local.create({ streamId: 'str_young', principal: 'p', requestId: 'r', model: 'm', startedAt: Date.now(), owner: ownership.instance });
      a!.replicate(record, () => undefined);
      record.append({ seq: 1, type: 'chat.started', rest: '}' });
      expect(await redis.client!.exists('hsg:m:str_young')).toBe(0);
      expect(await b!.find('str_young', 'p')).toMatchObject({ meta: { streamId: 'str_young' }, lastSeq: 1 });
      // Not its principal's: refused at once, without waiting for a batch.
      const startedAt = Date.now();
      expect(await b!.find('str_young', 'q')).toBeUndefined();
      expect(Date.now() - startedAt).toBeLessThan(batchMs);
      // Unknown: refused after the second look.
      expect(await b!.find('str_unknown', 'p')).toBeUndefined();
    });
  });
});

describe('RedisStreamLog readers', () => {
  type Logs = Parameters<Parameters<typeof withRedisLogs>[1]>[0];
  /**
   * A stream produced here and copied to Redis, its `chat.started` written, and a reader of it
   * from seq 0 (resumed) that collects seqs; `pauseAt`: its socket fills up once it has that many.
   */
  async function followNew({ logs: [log], local, ownership }: Logs, streamId: string, pauseAt?: number) {
    const record = local.create({ streamId, principal: 'p', requestId: 'r', model: 'm', startedAt: Date.now(), owner: ownership.instance });
    log!.replicate(record, () => undefined);
    record.append({ seq: 1, type: 'chat.started', rest: '}' });
    await log!.flushNow();
    const reader = { frames: [] as number[], lostWith: undefined as string | undefined };
    const subscription = (await log!.follow(streamId, 0, {
      frame: (f) => reader.frames.push(f.seq) === pauseAt && subscription.pause(),
      lost: (reason) => (reader.lostWith = reason),
    }))!;
    subscription.resume();
    /** Until `done`, or the reader is told it lost the stream. */
    const until = async (done: () => boolean) => {
      while (!done() && reader.lostWith === undefined) await new Promise((resolve) => setImmediate(resolve));
    };
    return { record, reader, subscription, until };
  }

  it('a reader paused until the per-stream bound trimmed frames it had not read is told they were evicted', async () => {
    await withRedisLogs({ batchMs: 5, maxStreamBytes: 8_192 }, async (t) => {
      const log = t.logs[0]!;
      const { record, reader, subscription, until } = await followNew(t, 'str_behind');
      expect(reader.frames).toEqual([1]);
      subscription.pause();
      // 40 KiB of frames while it is paused: the 8 KiB bound trims the oldest of them.
      for (let seq = 2; seq <= 41; seq++) {
        record.append({ seq, type: 'chat.chunk', rest: `,"text":"${'x'.repeat(1_000)}"}` });
        await log.flushNow();
      }
      subscription.resume();
      await until(() => false);
      expect(reader.lostWith).toBe('evicted');
      expect(reader.frames).toEqual([1]);
    });
  });

  it('a reader paused in the middle of an entry reads on from its own frame, each once, when it resumes', async () => {
    await withRedisLogs({ batchMs: 5 }, async (t) => {
      const log = t.logs[0]!;
      // Its socket fills up at frame 3, in the middle of the entry holding frames 2–6.
      const { record, reader, subscription, until } = await followNew(t, 'str_midway', 3);
      await until(() => reader.frames.length === 1);
      for (let seq = 2; seq <= 6; seq++) record.append({ seq, type: 'chat.chunk', rest: `,"n":${seq}}` });
      await log.flushNow();
      await until(() => reader.frames.length === 3);
      for (let seq = 7; seq <= 8; seq++) record.append({ seq, type: 'chat.chunk', rest: `,"n":${seq}}` });
      await log.flushNow();
      expect(reader.frames).toEqual([1, 2, 3]);
      subscription.resume();
      await until(() => reader.frames.length === 8);
      expect(reader.lostWith).toBeUndefined();
      expect(reader.frames).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });
  });
});

describe('RedisStreamLog resume reads', () => {
  it('reads from the entry holding the next frame: a hole before it does not matter, one after it refuses the resume', async () => {
    await withRedisLogs({ batchMs: 5 }, async ({ redis, logs: [log], local, ownership }) => {
      const record = local.create({ streamId: 'str_from', principal: 'p', requestId: 'r', model: 'm', startedAt: Date.now(), owner: ownership.instance });
      log!.replicate(record, () => undefined);
      // Entries 1-0 (frame 1), 2-0 (frames 2–4), 5-0 (frames 5–7), 8-0 (frame 8).
      const batches = [[1], [2, 3, 4], [5, 6, 7], [8]];
      for (const batch of batches) {
        for (const seq of batch) record.append(seq === 1 ? { seq, type: 'chat.started', rest: '}' } : { seq, type: 'chat.chunk', rest: `,"n":${seq}}` });
        await log!.flushNow();
      }
      const key = 'hsg:s:str_from';
      expect((await redis.client!.xrange(key, '-', '+')).map(([id]) => id)).toEqual(['1-0', '2-0', '5-0', '8-0']);
      const read = async (afterSeq: number) => {
        const seqs: number[] = [];
        const subscription = await log!.follow('str_from', afterSeq, { frame: (f) => seqs.push(f.seq), lost: () => undefined });
        subscription?.resume();
        subscription?.close();
        return subscription ? seqs : 'not found';
      };
      expect(await read(5)).toEqual([6, 7, 8]);
      // Frames 2–4 lost (a failover): a reader past them is served, one that needs them is not.
      await redis.client!.xdel(key, '2-0');
      expect(await read(5)).toEqual([6, 7, 8]);
      expect(await read(4)).toEqual([5, 6, 7, 8]);
      expect(await read(2)).toBe('not found');
      expect(await read(0)).toBe('not found');
      // Frames 5–7 lost too: a reader at 4 would get a stream with a hole.
      await redis.client!.xdel(key, '5-0');
      expect(await read(4)).toBe('not found');
      expect(await read(7)).toEqual([8]);
    });
  });
});

describe('RedisStreamLog fencing', () => {
  it('stops a stream whose log another instance ended: its next write is refused by the entry id', async () => {
    await withRedisLogs({ batchMs: 5 }, async ({ redis, logs: [log], local, ownership }) => {
      const record = local.create({ streamId: 'str_fenced', principal: 'p', requestId: 'r', model: 'm', startedAt: Date.now(), owner: ownership.instance });
      let fenced = 0;
      log!.replicate(record, () => fenced++);
      record.append({ seq: 1, type: 'chat.started', rest: '}' });
      await log!.flushNow();
      // Another instance found this one's lease gone and ended the log at seq 2.
      await redis.client!.xadd('hsg:s:str_fenced', '2-0', '2', 'chat.error ,"code":"upstream_disconnected"}');
      record.append({ seq: 2, type: 'chat.chunk', rest: '}' });
      record.append({ seq: 3, type: 'chat.chunk', rest: '}' });
      await log!.flushNow();
      expect(fenced).toBe(1);
      const entries = await redis.client!.xrange('hsg:s:str_fenced', '-', '+');
      expect(entries.map(([id]) => id)).toEqual(['1-0', '2-0']);
    });
  });
});
