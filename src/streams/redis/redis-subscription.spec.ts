import { parseConfig } from '../../config/config.schema';
import type { MetricsService } from '../../metrics/metrics.service';
import { REDIS_CALL_TIMEOUT_MS, RedisService } from '../../redis/redis.service';
import { TestRedis } from '../../../test/support/redis-server';
import { FramePrefixes, type RecordFrame } from '../record-frame';
import { REPLAY_PAGE_BYTES } from '../replay-pacer';
import type { LogReader, LogSubscription } from '../stream-log';
import { metaKey, streamKey } from './redis-log-format';
import { FOLLOW_READ_DEADLINE_MS } from './redis-follower';
import { RedisLogReader } from './redis-log-reader';
import { StreamOwnership } from './stream-ownership';
import { StreamPresence } from './stream-presence';

/**
 * Redis replays a page at a time (issue 21 item 5), on a private redis-server whose logs the test
 * writes by hand: the boundaries of a page (an entry straddling the reader's position, a page that
 * ends exactly where the log does, a trim or a hole between pages), what a paused reader holds,
 * and a page read that Redis does not answer.
 */
const quiet = { info: () => undefined, warn: () => undefined } as never;
const metrics = { redisError: () => undefined, gauge: () => undefined } as unknown as MetricsService;
const REQUEST = 'q1';
const prefixes = new FramePrefixes(REQUEST);
const READ_TIMEOUT_MS = 300;

/** A reader that records what it is given; `onFrame` may pause the subscription. */
class Recorder implements LogReader {
  readonly id = REQUEST;
  readonly frames: RecordFrame[] = [];
  lostReason: string | undefined;
  subscription: LogSubscription | undefined;
  private waiting: { until: (r: Recorder) => boolean; resolve: () => void } | undefined;
  constructor(private readonly onFrame: (r: Recorder, frame: RecordFrame) => void = () => undefined) {}
  frame(frame: RecordFrame): void {
    this.frames.push(frame);
    this.onFrame(this, frame);
    this.check();
  }
  lost(reason: string): void {
    this.lostReason = reason;
    this.check();
  }
  /** Resolves once `until` holds (checked on every frame and loss). */
  when(until: (r: Recorder) => boolean): Promise<void> {
    return new Promise((resolve) => {
      this.waiting = { until, resolve };
      this.check();
    });
  }
  get seqs(): number[] {
    return this.frames.map((f) => f.seq);
  }
  private check(): void {
    if (this.waiting?.until(this)) this.waiting.resolve();
  }
}

interface Setup {
  server: TestRedis;
  redis: RedisService;
  reader: RedisLogReader;
  owner: StreamOwnership;
  /** Writes entries of `size`-character chunks: each entry `[first, last]` of seqs. */
  write(streamId: string, entries: Array<[number, number]>, size?: number, end?: boolean): Promise<void>;
  close(): Promise<void>;
}

const chunkOf = (streamId: string, seq: number, size: number) => prefixes.render({ seq, type: 'chat.chunk', rest: `,"stream_id":"${streamId}","seq":${seq},"x":"${'x'.repeat(size)}"}` });

async function setup(): Promise<Setup | undefined> {
  const server = await TestRedis.start();
  if (!server) return undefined;
  const redis = new RedisService(parseConfig({ REDIS_URL: server.url }), metrics, quiet);
  await new Promise<void>((resolve) => redis.onUp(resolve));
  // The streams' owner: alive (its lease held), so the follower never ends them.
  const owner = new StreamOwnership(redis, 60_000, 60_000);
  await owner.start(() => undefined);
  const presence = new StreamPresence(redis, 'gw_reader', 60_000, 1_000);
  const reader = new RedisLogReader(redis, new StreamOwnership(redis, 60_000, 60_000), presence, { batchMs: 20, retentionMs: 60_000, runningTtlMs: 60_000, readTimeoutMs: READ_TIMEOUT_MS });
  return {
    server,
    redis,
    reader,
    owner,
    async write(streamId, entries, size = 100, end = false) {
      const client = redis.client!;
      await client.hset(metaKey(streamId), { principal: 'alice', id: REQUEST, model: 'm', owner: owner.instance, started_at: '1', ...(end ? { state: 'done' } : {}) });
      for (const [first, last] of entries) {
        const fields: string[] = [];
        for (let seq = first; seq <= last; seq++) {
          const json = end && seq === entries.at(-1)![1] ? prefixes.render({ seq, type: 'chat.done', rest: `,"stream_id":"${streamId}","seq":${seq}}` }) : chunkOf(streamId, seq, size);
          fields.push(String(seq), json);
        }
        await client.xadd(streamKey(streamId), `${first}-0`, ...fields);
      }
    },
    async close() {
      reader.close();
      presence.close();
      await owner.stop();
      await redis.onApplicationShutdown();
      await server.down();
    },
  };
}

async function withSetup(body: (t: Setup) => Promise<void>): Promise<void> {
  const t = await setup();
  if (!t) return;
  try {
    await body(t);
  } finally {
    await t.close();
  }
}

/** Entries of `per` frames each, from seq 1 to `last`. */
function entriesOf(last: number, per: number): Array<[number, number]> {
  const entries: Array<[number, number]> = [];
  for (let first = 1; first <= last; first += per) entries.push([first, Math.min(last, first + per - 1)]);
  return entries;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('Redis replays, a page at a time', () => {
  jest.setTimeout(20_000);

  it('an entry straddling the position: the frames after it, each once, in order, to the terminal', async () => {
    await withSetup(async (t) => {
      await t.write('s1', [[1, 4], [5, 8], [9, 12]], 100, true);
      const recorder = new Recorder();
      const subscription = (await t.reader.follow('s1', 6, recorder))!;
      subscription.resume();
      await recorder.when((r) => r.seqs.at(-1) === 12);
      expect(recorder.seqs).toEqual(range(7, 12));
      expect(recorder.frames.at(-1)!.type).toBe('chat.done');
      subscription.close();
    });
  });

  it('many small entries take several pages, read only as the reader takes them; the whole replay arrives once', async () => {
    await withSetup(async (t) => {
      // 600 one-frame entries: more than a page's entry count (256), so at least three pages.
      await t.write('s2', entriesOf(600, 1), 100, true);
      const recorder = new Recorder();
      const subscription = (await t.reader.follow('s2', 0, recorder))!;
      subscription.resume();
      await recorder.when((r) => r.seqs.at(-1) === 600);
      expect(recorder.seqs).toEqual(range(1, 600));
      expect(t.reader.holdings.bytes).toBe(0);
      subscription.close();
    });
  });

  it('a paused reader holds at most a page; it reads on when resumed', async () => {
    await withSetup(async (t) => {
      // 64 entries of two 4 KB frames: 512 KB, eight pages.
      await t.write('s3', entriesOf(128, 2), 4_000, true);
      let pauseAt = 1;
      const recorder = new Recorder((r, frame) => {
        if (frame.seq === pauseAt) r.subscription!.pause();
      });
      recorder.subscription = (await t.reader.follow('s3', 0, recorder))!;
      const held: number[] = [];
      for (pauseAt = 10; pauseAt <= 100; pauseAt += 30) {
        recorder.subscription.resume();
        await recorder.when((r) => r.seqs.at(-1) === pauseAt);
        held.push(t.reader.holdings.bytes);
        expect(recorder.seqs.at(-1)).toBe(pauseAt);
      }
      expect(Math.max(...held)).toBeLessThanOrEqual(REPLAY_PAGE_BYTES + 8_200);
      recorder.subscription.resume();
      await recorder.when((r) => r.seqs.at(-1) === 128);
      expect(recorder.seqs).toEqual(range(1, 128));
      recorder.subscription.close();
      expect(t.reader.holdings.bytes).toBe(0);
    });
  });

  it('a page ending exactly where the log does: live from there, with no frame lost or repeated', async () => {
    await withSetup(async (t) => {
      // A running stream of two entries: the first read (two entries) is the whole log.
      await t.write('s4', [[1, 3], [4, 6]]);
      const recorder = new Recorder();
      const subscription = (await t.reader.follow('s4', 0, recorder))!;
      subscription.resume();
      await recorder.when((r) => r.seqs.at(-1) === 6);
      // Written after the replay reached the end: it comes live, through the follower.
      await t.write('s4', [[7, 9]]);
      await recorder.when((r) => r.seqs.at(-1) === 9);
      await t.write('s4', [[10, 10]]);
      await recorder.when((r) => r.seqs.at(-1) === 10);
      expect(recorder.seqs).toEqual(range(1, 10));
      subscription.close();
    });
  });

  it('a trim between pages: the reader is told of a gap (a retryable end), after a whole prefix, never across the hole', async () => {
    await withSetup(async (t) => {
      await t.write('s5', entriesOf(400, 1), 100, true);
      const recorder = new Recorder((r, frame) => {
        if (frame.seq === 5) r.subscription!.pause();
      });
      recorder.subscription = (await t.reader.follow('s5', 0, recorder))!;
      recorder.subscription.resume();
      await recorder.when((r) => r.seqs.at(-1) === 5);
      // The per-stream bound drops entries the reader has not read yet.
      await t.redis.client!.xtrim(streamKey('s5'), 'MINID', '300-0');
      recorder.subscription.resume();
      await recorder.when((r) => r.lostReason !== undefined);
      expect(recorder.lostReason).toBe('log_gap');
      expect(recorder.seqs).toEqual(range(1, recorder.seqs.length));
      expect(recorder.seqs.at(-1)).toBeLessThan(300);
      expect(t.reader.holdings.bytes).toBe(0);
    });
  });

  it('a hole found on a later page (entries lost with Redis): a gap, the frames before it whole', async () => {
    await withSetup(async (t) => {
      await t.write('s6', entriesOf(600, 1), 100, true);
      await t.redis.client!.xdel(streamKey('s6'), '450-0');
      const recorder = new Recorder();
      const subscription = (await t.reader.follow('s6', 0, recorder))!;
      subscription.resume();
      await recorder.when((r) => r.lostReason !== undefined);
      expect(recorder.lostReason).toBe('log_gap');
      // A page is checked whole before any of it goes out: the reader stops at a page's end before the hole.
      expect(recorder.seqs).toEqual(range(1, recorder.seqs.length));
      expect(recorder.seqs.at(-1)).toBeLessThan(450);
    });
  });

  it('trimmed past the position before the first page: no subscription (stream_not_found), never a partial replay', async () => {
    await withSetup(async (t) => {
      await t.write('s7', entriesOf(20, 2), 100, true);
      await t.redis.client!.xtrim(streamKey('s7'), 'MINID', '11-0');
      expect(await t.reader.follow('s7', 4, new Recorder())).toBeUndefined();
      const recorder = new Recorder();
      const subscription = (await t.reader.follow('s7', 10, recorder))!;
      subscription.resume();
      await recorder.when((r) => r.seqs.at(-1) === 20);
      expect(recorder.seqs).toEqual(range(11, 20));
    });
  });

  it('a live read that never settles (ioredis re-queues a blocking read a reconnect interrupted) is given up and sent again: the watcher goes on', async () => {
    await withSetup(async (t) => {
      await t.write('s9', [[1, 3]]);
      // The follower's first blocking read is the one a dropped connection left hanging.
      jest.spyOn(t.redis.reader!, 'xread').mockImplementationOnce(() => new Promise(() => undefined) as never);
      const recorder = new Recorder();
      const subscription = (await t.reader.follow('s9', 0, recorder))!;
      subscription.resume();
      await recorder.when((r) => r.seqs.at(-1) === 3);
      const since = performance.now();
      await t.write('s9', [[4, 6]]);
      await recorder.when((r) => r.seqs.at(-1) === 6);
      expect(recorder.seqs).toEqual(range(1, 6));
      // Given up at the deadline, sent again after the retry pause: bounded, never for good.
      expect(performance.now() - since).toBeLessThan(FOLLOW_READ_DEADLINE_MS + 2_000);
      subscription.close();
    });
  });

  it("a check of the owner's lease that is never answered (a reply lost in a failover) is given up: the watcher goes on", async () => {
    await withSetup(async (t) => {
      await t.write('s10', [[1, 3]]);
      // The follower's first owner check (EXISTS of the owner's lease) is sent, and its answer never comes.
      const real = t.redis.pipeline.bind(t.redis);
      let hung = false;
      let started!: () => void;
      const hanging = new Promise<void>((resolve) => (started = resolve));
      jest.spyOn(t.redis, 'pipeline').mockImplementation((...args) => {
        const pipeline = real(...args);
        const { exec, exists } = pipeline;
        let checksOwner = false;
        pipeline.exists = ((...keys: Parameters<typeof exists>) => ((checksOwner = true), exists.apply(pipeline, keys))) as typeof exists;
        pipeline.exec = (() => {
          const sent = exec.call(pipeline);
          if (!checksOwner || hung) return sent;
          hung = true;
          started();
          return new Promise(() => undefined);
        }) as typeof exec;
        return pipeline;
      });
      const recorder = new Recorder();
      const subscription = (await t.reader.follow('s10', 0, recorder))!;
      subscription.resume();
      await recorder.when((r) => r.seqs.at(-1) === 3);
      // The follower's loop waits on that check now: what is logged meanwhile waits with it.
      await hanging;
      const since = performance.now();
      await t.write('s10', [[4, 6]]);
      await recorder.when((r) => r.seqs.at(-1) === 6);
      expect(recorder.seqs).toEqual(range(1, 6));
      // Given up at the call deadline, the loop read on after its retry pause: bounded, never for good.
      expect(performance.now() - since).toBeGreaterThan(REDIS_CALL_TIMEOUT_MS - 500);
      expect(performance.now() - since).toBeLessThan(REDIS_CALL_TIMEOUT_MS + 2_000);
      subscription.close();
    });
  });

  it('a page read Redis does not answer ends the replay (log_lost) within the read deadline', async () => {
    await withSetup(async (t) => {
      await t.write('s8', entriesOf(600, 1), 100, true);
      const recorder = new Recorder((r, frame) => {
        if (frame.seq === 3) r.subscription!.pause();
      });
      recorder.subscription = (await t.reader.follow('s8', 0, recorder))!;
      recorder.subscription.resume();
      await recorder.when((r) => r.seqs.at(-1) === 3);
      t.server.freeze();
      try {
        const since = performance.now();
        recorder.subscription.resume();
        await recorder.when((r) => r.lostReason !== undefined);
        expect(recorder.lostReason).toBe('log_lost');
        expect(performance.now() - since).toBeLessThan(READ_TIMEOUT_MS + 1_000);
      } finally {
        t.server.thaw();
      }
    });
  });
});
