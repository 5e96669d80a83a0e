import { parseConfig } from '../../config/config.schema';
import type { MetricsService } from '../../metrics/metrics.service';
import { RedisService } from '../../redis/redis.service';
import { TestRedis, upAgain } from '../../../test/support/redis-server';
import type { LogReader, StreamMeta } from '../stream-log';
import { describeStreamLog, IDLE_PRODUCER } from '../stream-log.contract';
import type { LogFormat } from './redis-log-format';
import { ReplicatedStreamLog } from './replicated-stream-log';
import { StreamOwnership } from './stream-ownership';

const quiet = { info: () => undefined, warn: () => undefined } as never;
/** What RedisService reports to: nothing here looks at it. */
const metrics = { redisError: () => undefined, gauge: () => undefined } as unknown as MetricsService;

interface Replicas {
  server: TestRedis;
  redis: RedisService;
  /** The replica producing the streams. */
  a: ReplicatedStreamLog;
  /** Another replica, reading them from Redis. */
  b: ReplicatedStreamLog;
  close(): Promise<void>;
}

/**
 * Two replicas' logs on a private redis-server (one connection and one lease between them: what
 * matters is that B holds none of A's streams in memory). Frames are bounded in Redis by
 * `maxStreamBytes`; A's memory keeps all of them, as a producer whose readers keep up would.
 * Undefined without Redis.
 */
async function replicas(options: { batchMs: number; retentionMs?: number; maxStreamBytes?: number; format: LogFormat; callTimeoutMs?: number }): Promise<Replicas | undefined> {
  const server = await TestRedis.start();
  if (!server) return undefined;
  const config = parseConfig({ REDIS_URL: server.url });
  const redis = new RedisService(config, metrics, quiet);
  await new Promise<void>((resolve) => redis.onUp(resolve));
  const ownership = new StreamOwnership(redis, 5_000, options.retentionMs ?? 60_000);
  const logOptions = {
    memory: { maxStreamBytes: 1 << 20, maxTotalBytes: 1 << 30, retentionMs: 60_000, now: Date.now },
    redis: { batchMs: options.batchMs, retentionMs: options.retentionMs ?? 60_000, maxStreamBytes: options.maxStreamBytes ?? 1 << 20, runningTtlMs: 60_000, leaseMs: 5_000, graceMs: 1_000, format: options.format, callTimeoutMs: options.callTimeoutMs },
  };
  const a = new ReplicatedStreamLog(redis, ownership, logOptions, () => undefined);
  // B is configured for the other format: each reads both (a rolling change of STREAM_LOG_FORMAT).
  const b = new ReplicatedStreamLog(redis, ownership, { ...logOptions, redis: { ...logOptions.redis, format: options.format === 1 ? 2 : 1 } }, () => undefined);
  await a.start();
  return {
    server,
    redis,
    a,
    b,
    close: async () => {
      for (const log of [a, b]) {
        await log.release();
        log.close();
      }
      await redis.onApplicationShutdown();
      await server.down();
    },
  };
}

/** Runs `body` on two replicas' logs; skips without Redis. */
async function withReplicas(options: Parameters<typeof replicas>[0], body: (t: Replicas) => Promise<void>): Promise<void> {
  const t = await replicas(options);
  if (!t) return;
  try {
    await body(t);
  } finally {
    await t.close();
  }
}

const RETENTION_MS = 300;

/** Both log formats (`STREAM_LOG_FORMAT`): each must keep every guarantee. */
describe.each([1, 2] as const)('log format %i', (format) => {
  /** A real Redis (a private redis-server): streams produced on one replica, read on another. */
  describeStreamLog('ReplicatedStreamLog', async () => {
    const t = await replicas({ batchMs: 5, retentionMs: RETENTION_MS, maxStreamBytes: 16 * 1024, format });
    if (!t) return undefined;
    return {
      log: t.b,
      produce: (meta) => t.a.open(meta, IDLE_PRODUCER),
      settle: () => t.a.flushNow(),
      expire: async () => {
        await t.a.flushNow();
        await new Promise((resolve) => setTimeout(resolve, RETENTION_MS + 50));
      },
      close: () => t.close(),
    };
  });

  const meta = (streamId: string): StreamMeta => ({ streamId, principal: 'p', requestId: 'r', model: 'm', startedAt: Date.now(), owner: 'ignored' });

  describe('ReplicatedStreamLog find', () => {
    it('finds a stream started elsewhere less than a batch window ago (its first batch is not written yet)', async () => {
      const batchMs = 300;
      // A produces, B is asked to resume.
      await withReplicas({ batchMs, format }, async ({ redis, a, b }) => {
        const record = a.open(meta('str_young'), IDLE_PRODUCER);
        record.append({ seq: 1, type: 'chat.started', rest: '}' });
        expect(await redis.client!.exists('hsg:m:str_young')).toBe(0);
        expect(await b.find('str_young', 'p')).toMatchObject({ meta: { streamId: 'str_young' }, lastSeq: 1 });
        // Not its principal's: refused at once, without waiting for a batch.
        const startedAt = Date.now();
        expect(await b.find('str_young', 'q')).toBeUndefined();
        expect(Date.now() - startedAt).toBeLessThan(batchMs);
        // Unknown: refused after the second look.
        expect(await b.find('str_unknown', 'p')).toBeUndefined();
      });
    });
  });

  describe('ReplicatedStreamLog readers', () => {
    /**
     * A stream produced on A and copied to Redis, its `chat.started` written, and a reader of it on
     * B from seq 0 (resumed) that collects seqs; `pauseAt`: its socket fills up once it has that many.
     */
    async function followNew({ a, b }: Replicas, streamId: string, pauseAt?: number) {
      const record = a.open(meta(streamId), IDLE_PRODUCER);
      record.append({ seq: 1, type: 'chat.started', rest: '}' });
      await a.flushNow();
      const reader = { frames: [] as number[], lostWith: undefined as string | undefined };
      const subscription = (await b.follow(streamId, 0, {
        id: 'r',
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

    it('a reader paused until the per-stream bound trimmed frames it had not read is told of the gap (a retryable end)', async () => {
      await withReplicas({ batchMs: 5, maxStreamBytes: 8_192, format }, async (t) => {
        const { record, reader, subscription, until } = await followNew(t, 'str_behind');
        expect(reader.frames).toEqual([1]);
        subscription.pause();
        // 40 KiB of frames while it is paused: the 8 KiB bound trims the oldest of them.
        for (let seq = 2; seq <= 41; seq++) {
          record.append({ seq, type: 'chat.chunk', rest: `,"text":"${'x'.repeat(1_000)}"}` });
          await t.a.flushNow();
        }
        subscription.resume();
        await until(() => false);
        expect(reader.lostWith).toBe('log_gap');
        expect(reader.frames).toEqual([1]);
      });
    });

    it('a reader paused in the middle of an entry reads on from its own frame, each once, when it resumes', async () => {
      await withReplicas({ batchMs: 5, format }, async (t) => {
        // Its socket fills up at frame 3, in the middle of the entry holding frames 2–6.
        const { record, reader, subscription, until } = await followNew(t, 'str_midway', 3);
        await until(() => reader.frames.length === 1);
        for (let seq = 2; seq <= 6; seq++) record.append({ seq, type: 'chat.chunk', rest: `,"n":${seq}}` });
        await t.a.flushNow();
        await until(() => reader.frames.length === 3);
        for (let seq = 7; seq <= 8; seq++) record.append({ seq, type: 'chat.chunk', rest: `,"n":${seq}}` });
        await t.a.flushNow();
        expect(reader.frames).toEqual([1, 2, 3]);
        subscription.resume();
        await until(() => reader.frames.length === 8);
        expect(reader.lostWith).toBeUndefined();
        expect(reader.frames).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      });
    });
  });

  describe('ReplicatedStreamLog resume reads', () => {
    it('reads from the entry holding the next frame: a hole before it does not matter, one after it refuses the resume', async () => {
      await withReplicas({ batchMs: 5, format }, async ({ redis, a, b }) => {
        const record = a.open(meta('str_from'), IDLE_PRODUCER);
        // Entries 1-0 (frame 1), 2-0 (frames 2–4), 5-0 (frames 5–7), 8-0 (frame 8).
        const batches = [[1], [2, 3, 4], [5, 6, 7], [8]];
        for (const batch of batches) {
          for (const seq of batch) record.append(seq === 1 ? { seq, type: 'chat.started', rest: '}' } : { seq, type: 'chat.chunk', rest: `,"n":${seq}}` });
          await a.flushNow();
        }
        const key = 'hsg:s:str_from';
        expect((await redis.client!.xrange(key, '-', '+')).map(([id]) => id)).toEqual(['1-0', '2-0', '5-0', '8-0']);
        const read = async (afterSeq: number) => {
          const seqs: number[] = [];
          const subscription = await b.follow('str_from', afterSeq, { id: 'r', frame: (f) => seqs.push(f.seq), lost: () => undefined });
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

  describe('ReplicatedStreamLog entries', () => {
    it('writes each frame as the JSON the producer holds, byte for byte, and reads it back as the frame', async () => {
      await withReplicas({ batchMs: 5, format }, async ({ redis, a, b }) => {
        const record = a.open({ ...meta('str_bytes'), requestId: 'réq "1"' }, IDLE_PRODUCER);
        record.append({ seq: 1, type: 'chat.started', rest: ',"stream_id":"str_bytes","seq":1}' });
        record.append({ seq: 2, type: 'chat.chunk', rest: ',"seq":2,"chunk":{"text":"日本語 🙂"}}' });
        await a.flushNow();
        const [[, all]] = (await redis.client!.xrangeBuffer('hsg:s:str_bytes', '-', '+')) as Array<[Buffer, Buffer[]]>;
        // Format 2: the first entry starts with the stream's meta.
        const fields = format === 2 ? all.slice(2) : all;
        if (format === 2) expect(JSON.parse(String(all[1]))).toMatchObject({ principal: 'p', id: 'réq "1"', owner: expect.stringMatching(/^gw_/) });
        expect(fields.map(String)).toEqual(['1', '{"type":"chat.started","id":"réq \\"1\\"","stream_id":"str_bytes","seq":1}', '2', '{"type":"chat.chunk","id":"réq \\"1\\"","seq":2,"chunk":{"text":"日本語 🙂"}}']);
        expect(fields[3]!.equals(record.payloadOf(2)!)).toBe(true);
        const frames: unknown[] = [];
        const reader: LogReader = { id: 'other', frame: (f, wire) => frames.push({ ...f, wire }), lost: () => undefined };
        const subscription = (await b.follow('str_bytes', 0, reader))!;
        subscription.resume();
        subscription.close();
        expect(frames).toEqual([
          { seq: 1, type: 'chat.started', rest: ',"stream_id":"str_bytes","seq":1}', wire: undefined },
          { seq: 2, type: 'chat.chunk', rest: ',"seq":2,"chunk":{"text":"日本語 🙂"}}', wire: undefined },
        ]);
      });
    });

    it('still reads entries in the format of the release before (`<type> <rest>`), through a rolling deploy', async () => {
      await withReplicas({ batchMs: 5, format }, async ({ redis, b }) => {
        await redis.client!.hset('hsg:m:str_old', { principal: 'p', id: 'r', model: 'm', owner: 'gw_old', started_at: String(Date.now()) });
        await redis.client!.xadd('hsg:s:str_old', '1-0', '1', 'chat.started ,"stream_id":"str_old","seq":1,"model":"m"}', '2', 'chat.done ,"seq":2}');
        expect(await b.find('str_old', 'p')).toMatchObject({ state: 'done', lastSeq: 2 });
        const frames: unknown[] = [];
        const subscription = (await b.follow('str_old', 0, { id: 'r', frame: (f) => frames.push(f), lost: () => undefined }))!;
        subscription.resume();
        subscription.close();
        expect(frames).toEqual([
          { seq: 1, type: 'chat.started', rest: ',"stream_id":"str_old","seq":1,"model":"m"}' },
          { seq: 2, type: 'chat.done', rest: ',"seq":2}' },
        ]);
      });
    });
  });

  describe('ReplicatedStreamLog meta', () => {
    /** The log's commands besides XADD, per Redis's own count (INFO commandstats) since the last reset. */
    async function logCommands(redis: RedisService): Promise<Record<string, number>> {
      const text = String(await redis.client!.info('commandstats'));
      const calls: Record<string, number> = {};
      for (const m of text.matchAll(/^cmdstat_(hset|pexpire|zadd|exists):calls=(\d+)/gm)) calls[m[1]!] = Number(m[2]);
      return calls;
    }

    it(`costs ${format === 1 ? 7 : 3} commands per stream besides its XADDs (issue 23), and find and list read what it wrote`, async () => {
      await withReplicas({ batchMs: 5, format }, async ({ redis, a, b }) => {
        await redis.client!.config('RESETSTAT');
        const record = a.open(meta('str_cost'), IDLE_PRODUCER);
        record.append({ seq: 1, type: 'chat.started', rest: '}' });
        await a.flushNow();
        for (let seq = 2; seq <= 5; seq++) record.append({ seq, type: 'chat.chunk', rest: `,"n":${seq}}` });
        await a.flushNow();
        record.append({ seq: 6, type: 'chat.done', rest: '}' });
        await a.flushNow();
        // + the principal's index TTL, once per principal per period (not per stream).
        expect(await logCommands(redis)).toEqual(format === 1 ? { hset: 2, pexpire: 5, zadd: 1 } : { pexpire: 3, zadd: 1 });
        expect(await redis.client!.exists('hsg:m:str_cost')).toBe(format === 1 ? 1 : 0);
        expect(await b.find('str_cost', 'p')).toMatchObject({ meta: { streamId: 'str_cost', principal: 'p', requestId: 'r', model: 'm', owner: expect.stringMatching(/^gw_/) }, state: 'done', lastSeq: 6 });
        expect((await b.list('p')).streams).toEqual([expect.objectContaining({ stream_id: 'str_cost', id: 'r', model: 'm', state: 'done', last_seq: 6 })]);
        // Its keys are kept for the retention from its end, not a running TTL.
        for (const key of ['hsg:s:str_cost', ...(format === 1 ? ['hsg:m:str_cost'] : [])]) expect(await redis.client!.pttl(key)).toBeLessThanOrEqual(60_000);
      });
    });

    it('a stream with no frame yet is found by its meta, written once (format 2: in an entry of its own, before any frame’s)', async () => {
      await withReplicas({ batchMs: 5, format }, async ({ redis, a, b }) => {
        await redis.client!.config('RESETSTAT');
        const record = a.open(meta('str_pending'), IDLE_PRODUCER);
        await a.flushNow();
        await a.flushNow();
        expect(await b.find('str_pending', 'p')).toMatchObject({ state: 'pending', lastSeq: 0 });
        record.append({ seq: 1, type: 'chat.started', rest: '}' });
        await a.flushNow();
        expect(await b.find('str_pending', 'p')).toMatchObject({ meta: { principal: 'p' }, state: 'streaming', lastSeq: 1 });
        expect((await redis.client!.xrange('hsg:s:str_pending', '-', '+')).map(([id]) => id)).toEqual(format === 1 ? ['1-0'] : ['0-1', '1-0']);
        const xadds = /^cmdstat_xadd:calls=(\d+)/m.exec(String(await redis.client!.info('commandstats')))?.[1];
        expect(Number(xadds)).toBe(format === 1 ? 1 : 2);
      });
    });

    it('a model that changed before the end (a fallback) is the one find and list name', async () => {
      await withReplicas({ batchMs: 5, format }, async ({ a, b }) => {
        const record = a.open(meta('str_fallback'), IDLE_PRODUCER);
        record.append({ seq: 1, type: 'chat.started', rest: '}' });
        await a.flushNow();
        record.setModel('m-fallback');
        record.append({ seq: 2, type: 'chat.chunk', rest: ',"n":2}' });
        await a.flushNow();
        expect((await b.list('p')).streams[0]).toMatchObject({ model: 'm', state: 'streaming' });
        record.append({ seq: 3, type: 'chat.done', rest: '}' });
        await a.flushNow();
        expect(await b.find('str_fallback', 'p')).toMatchObject({ meta: { model: 'm-fallback' }, state: 'done' });
        expect((await b.list('p')).streams[0]).toMatchObject({ model: 'm-fallback', state: 'done' });
      });
    });

    it('a stream whose log outgrew its bound (its first entry trimmed away) is still found, listed and resumed', async () => {
      await withReplicas({ batchMs: 5, maxStreamBytes: 8_192, format }, async ({ redis, a, b }) => {
        const record = a.open(meta('str_long'), IDLE_PRODUCER);
        record.append({ seq: 1, type: 'chat.started', rest: '}' });
        await a.flushNow();
        for (let seq = 2; seq <= 30; seq++) {
          record.append({ seq, type: 'chat.chunk', rest: `,"text":"${'x'.repeat(1_000)}"}` });
          await a.flushNow();
        }
        const [[firstId, fields]] = await redis.client!.xrange('hsg:s:str_long', '-', '+', 'COUNT', 1);
        expect(firstId).not.toBe('1-0');
        // Format 2 keeps the meta in the hash from the trim on (the first entry that held it is gone).
        expect(fields[0]).not.toBe('m');
        expect(await redis.client!.hget('hsg:m:str_long', 'principal')).toBe('p');
        expect(await b.find('str_long', 'p')).toMatchObject({ meta: { principal: 'p' }, state: 'streaming', lastSeq: 30 });
        expect((await b.list('p')).streams).toEqual([expect.objectContaining({ stream_id: 'str_long', last_seq: 30 })]);
        const seqs: number[] = [];
        const subscription = (await b.follow('str_long', 28, { id: 'r', frame: (f) => seqs.push(f.seq), lost: () => undefined }))!;
        subscription.resume();
        record.append({ seq: 31, type: 'chat.done', rest: '}' });
        await a.flushNow();
        while (seqs.at(-1) !== 31) await new Promise((resolve) => setImmediate(resolve));
        subscription.close();
        expect(seqs).toEqual([29, 30, 31]);
        expect(await redis.client!.pttl('hsg:m:str_long')).toBeLessThanOrEqual(60_000);
      });
    });
  });

  describe('ReplicatedStreamLog writes Redis does not answer', () => {
    /** The seqs of the frames the log holds, in order, each as often as it is there. */
    const loggedSeqs = async (redis: RedisService, streamId: string): Promise<number[]> =>
      (await redis.client!.xrange(`hsg:s:${streamId}`, '-', '+')).flatMap(([, fields]) => fields.filter((_, i) => i % 2 === 0 && fields[i] !== 'm').map(Number));
    const chunks = (record: { append(frame: { seq: number; type: 'chat.chunk'; rest: string }): void }, from: number, to: number) => {
      for (let seq = from; seq <= to; seq++) record.append({ seq, type: 'chat.chunk', rest: '}' });
    };

    it('a batch whose answer is lost (it landed): given up at its deadline, Redis counted down and back, and every frame logged once', async () => {
      await withReplicas({ batchMs: 5, format, callTimeoutMs: 200 }, async ({ redis, a }) => {
        const record = a.open(meta('str_lost'), IDLE_PRODUCER);
        record.append({ seq: 1, type: 'chat.started', rest: '}' });
        await a.flushNow();
        // The next batch reaches Redis, but its answer never comes (a reply lost with a node).
        const real = redis.pipeline.bind(redis);
        jest.spyOn(redis, 'pipeline').mockImplementationOnce(() => {
          const pipeline = real();
          const exec = pipeline.exec.bind(pipeline);
          pipeline.exec = (() => (void exec(), new Promise(() => undefined))) as typeof pipeline.exec;
          return pipeline;
        });
        const back = upAgain(redis);
        chunks(record, 2, 4);
        await back;
        console.log('back', Date.now(), redis.up, a.flushNow);
        chunks(record, 5, 6);
        await a.flushNow();
        console.log('flushed', Date.now(), redis.up, (a as any).ownership.canWrite(), (a as any).writer.dirty.size, [...(a as any).writer.written.values()].map((e: any) => [e.seq, e.busy, e.unsure, e.created]));
        expect(await loggedSeqs(redis, 'str_lost')).toEqual([1, 2, 3, 4, 5, 6]);
      });
    });

    it('a frozen Redis: one batch is sent and given up at its deadline, none stacks behind it; after SIGCONT the log is whole', async () => {
      await withReplicas({ batchMs: 5, format, callTimeoutMs: 200 }, async ({ server, redis, a }) => {
        const record = a.open(meta('str_frozen'), IDLE_PRODUCER);
        record.append({ seq: 1, type: 'chat.started', rest: '}' });
        await a.flushNow();
        const pipelines = jest.spyOn(redis, 'pipeline');
        const givenUp = new Promise<unknown>((resolve) => jest.spyOn(redis, 'failed').mockImplementation((operation, error) => operation === 'log_write' && resolve(error)));
        server.freeze();
        try {
          chunks(record, 2, 3);
          expect(await givenUp).toMatchObject({ name: 'DeadlineError' });
          expect(redis.up).toBe(false);
          // Frames keep coming for many batch windows: an absence can only be seen over time.
          for (let seq = 4; seq <= 20; seq++) {
            chunks(record, seq, seq);
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
          expect(pipelines).toHaveBeenCalledTimes(1);
        } finally {
          server.thaw();
        }
        await upAgain(redis);
        await a.flushNow();
        expect(await loggedSeqs(redis, 'str_frozen')).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      });
    });
  });

  describe('ReplicatedStreamLog fencing', () => {
    it('stops a stream whose log another instance ended: its next write is refused by the entry id', async () => {
      await withReplicas({ batchMs: 5, format }, async ({ redis, a }) => {
        let fenced = 0;
        const record = a.open(meta('str_fenced'), { ...IDLE_PRODUCER, fenced: () => fenced++ });
        record.append({ seq: 1, type: 'chat.started', rest: '}' });
        await a.flushNow();
        // Another instance found this one's lease gone and ended the log at seq 2.
        await redis.client!.xadd('hsg:s:str_fenced', '2-0', '2', '{"type":"chat.error","id":"r","code":"upstream_disconnected"}');
        record.append({ seq: 2, type: 'chat.chunk', rest: '}' });
        record.append({ seq: 3, type: 'chat.chunk', rest: '}' });
        await a.flushNow();
        expect(fenced).toBe(1);
        const entries = await redis.client!.xrange('hsg:s:str_fenced', '-', '+');
        expect(entries.map(([id]) => id)).toEqual(['1-0', '2-0']);
      });
    });
  });
});
