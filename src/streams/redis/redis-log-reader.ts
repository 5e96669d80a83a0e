import type { StreamState, StreamSummary } from '@holysheep/protocol';
import type { RedisService } from '../../redis/redis.service';
import { viewAfter } from '../reader-view';
import { FramePrefixes, isTerminal, type StreamFrameType } from '../record-frame';
import { ReplayPacer } from '../replay-pacer';
import type { LogReader, LogSnapshot, LogSubscription, StreamMeta } from '../stream-log';
import { entriesReadAfter, entryMeta, lastFrameOf, metaKey, principalKey, readEntriesAfter, streamKey, type Pipeline, type RawEntry } from './redis-log-format';
import { FIRST_PAGE_ENTRIES, pageOf } from './redis-replay-page';
import { RedisFollower } from './redis-follower';
import { RedisSubscription, ReplayHoldings } from './redis-subscription';
import type { StreamOwnership } from './stream-ownership';
import type { StreamPresence } from './stream-presence';

/** How the Redis reader waits for young streams and lists old ones. */
export interface RedisLogReaderOptions {
  /** `STREAM_LOG_BATCH_MS`: how late a producer's first batch may be. */
  batchMs: number;
  retentionMs: number;
  /** How long a running stream's keys live before their TTL is renewed. */
  runningTtlMs: number;
  /** The longest one read of a replay's page may take (a socket's path: never unbounded). */
  readTimeoutMs: number;
}

/** {@link RedisLogReader.find}: Redis has no meta for the id (yet). */
const MISSING = Symbol('missing');
/** What a batch may take on top of its window to be in Redis (one pipelined round trip, with room). */
const LATE_BATCH_MARGIN_MS = 100;

/**
 * Reads the streams other replicas write to Redis (`redis-log-writer.ts`), for a resume or a list
 * here: the log from the reader's next frame on, checked to be whole, then live through one
 * blocking reader per instance ({@link RedisFollower}).
 */
export class RedisLogReader {
  private readonly follower: RedisFollower;
  /** What this instance's Redis replays hold now (the `stream_replay_bytes` gauge). */
  readonly holdings = new ReplayHoldings();
  /** Pages read back from Redis go out in its turns. */
  private readonly pacer = new ReplayPacer();

  constructor(
    private readonly redis: RedisService,
    ownership: StreamOwnership,
    presence: StreamPresence,
    private readonly options: RedisLogReaderOptions,
  ) {
    this.follower = new RedisFollower(redis, ownership, presence, options.batchMs);
  }

  /**
   * The stream as Redis has it. A stream another replica started less than a batch window ago is
   * not there yet (its meta goes with its first batch): a client whose socket dropped right after
   * `chat.started`, resuming here at once, would be told its stream is unknown, and give up. So an
   * id Redis does not know is looked up once more, a batch window (and a round trip) later, before
   * it is declared unknown; only refusals of unknown ids wait.
   */
  async find(streamId: string, principal: string): Promise<LogSnapshot | undefined> {
    const first = await this.lookup(streamId, principal);
    if (first !== MISSING) return first;
    await new Promise((resolve) => setTimeout(resolve, this.options.batchMs + LATE_BATCH_MARGIN_MS));
    const second = await this.lookup(streamId, principal);
    return second === MISSING ? undefined : second;
  }

  /**
   * The stream's meta and its first page, read in one round trip: the entry holding the reader's
   * next frame and the one after it — enough to tell at once whether what the reader lacks is
   * still whole; the rest is read a page at a time as the reader's socket takes it.
   */
  async follow(streamId: string, afterSeq: number, reader: LogReader): Promise<LogSubscription | undefined> {
    const client = this.redis.client!;
    const pipeline = readEntriesAfter(readMeta(client.pipeline(), streamId), streamId, afterSeq, FIRST_PAGE_ENTRIES);
    const [hash, first, last, ...reads] = (await pipeline.exec()) as Array<[Error | null, unknown]>;
    const found = metaOf(streamId, [hash!, first!, last!]);
    const entries = entriesReadAfter(reads);
    if (!found) return undefined;
    const { meta } = found;
    const prefixes = new FramePrefixes(meta.requestId);
    const page = pageOf(entries, prefixes, ((reads[1]?.[1] as RawEntry[] | undefined)?.length ?? 0) >= FIRST_PAGE_ENTRIES - 1);
    // A flushed or failed-over Redis loses entries: a replay with a hole is refused, not presented whole.
    const ended = found.ended || (found.state !== undefined && found.state !== 'pending');
    if (viewAfter(afterSeq, page.frames, ended && !page.more) === 'gone') return undefined;
    return new RedisSubscription(this.follower, this.redis, meta, prefixes, reader, afterSeq, page, this.holdings, { readTimeoutMs: this.options.readTimeoutMs, pacer: this.pacer, ended, hashed: found.hashed });
  }

  async list(principal: string): Promise<StreamSummary[]> {
    const client = this.redis.client!;
    const oldest = Date.now() - this.options.runningTtlMs - this.options.retentionMs;
    const ids = await client.zrevrangebyscore(principalKey(principal), '+inf', oldest);
    if (ids.length === 0) return [];
    // On a Cluster, one pipeline per node (each stream's keys share a slot): `slot-pipeline.ts`.
    const pipeline = this.redis.pipeline();
    for (const id of ids) readMeta(pipeline, id);
    const results = (await pipeline.exec()) ?? [];
    const summaries: StreamSummary[] = [];
    ids.forEach((streamId, i) => {
      const reads = results.slice(META_READS * i, META_READS * (i + 1));
      // One stream's failed read leaves it out of the list, not the list out.
      if (reads.some(([error]) => error)) return;
      const found = metaOf(streamId, reads);
      if (!found || found.meta.principal !== principal) return;
      const { meta, lastFrame } = found;
      const lastSeq = lastFrame?.seq ?? 0;
      summaries.push({ stream_id: streamId, id: meta.requestId, model: meta.model, state: stateOf(lastFrame?.type, lastSeq), last_seq: lastSeq, started_at: new Date(meta.startedAt).toISOString() });
    });
    return summaries;
  }

  /** The owner of a stream followed from here (for cancel), if known. */
  ownerOf(streamId: string): string | undefined {
    return this.follower.ownerOf(streamId);
  }

  close(): void {
    this.follower.close();
  }

  private async lookup(streamId: string, principal: string): Promise<LogSnapshot | undefined | typeof MISSING> {
    const found = metaOf(streamId, ((await readMeta(this.redis.client!.pipeline(), streamId).exec()) ?? []) as Array<[Error | null, unknown]>);
    if (!found) return MISSING;
    const { meta, lastFrame, ended } = found;
    if (meta.principal !== principal) return undefined;
    const lastSeq = lastFrame?.seq ?? 0;
    return { meta, state: ended ? (found.state ?? stateOf(lastFrame!.type, lastSeq)) : stateOf(undefined, lastSeq), lastSeq };
  }
}

/** A stream's state from its last logged frame. */
function stateOf(lastType: StreamFrameType | undefined, lastSeq: number): StreamState {
  if (lastType !== undefined && isTerminal(lastType)) return lastType === 'chat.done' ? 'done' : 'failed';
  return lastSeq > 0 ? 'streaming' : 'pending';
}

/** The reads {@link readMeta} queues per stream. */
const META_READS = 3;

/**
 * Queues the reads that give a stream's meta in either log format (`LogFormat`): its hash (format
 * 1, or 2 once trimmed), its first entry and its last (format 2's meta, and the stream's last frame).
 */
function readMeta(pipeline: Pipeline, streamId: string): Pipeline {
  return pipeline.hgetall(metaKey(streamId)).xrange(streamKey(streamId), '-', '+', 'COUNT', 1).xrevrange(streamKey(streamId), '+', '-', 'COUNT', 1);
}

/**
 * A stream's meta from {@link readMeta}'s results: the last entry's (a format-2 end whose model
 * changed) over the hash's over the first entry's, the newest first; and its last frame. Throws a
 * read's error; undefined when Redis has no meta for it.
 */
function metaOf(streamId: string, [hash, first, last]: Array<[Error | null, unknown]>): { meta: StreamMeta; hashed: boolean; state?: StreamState; lastFrame?: { seq: number; type: StreamFrameType }; ended: boolean } | undefined {
  for (const read of [hash, first, last]) {
    if (!read) throw new Error('Redis gave no reply');
    if (read[0]) throw read[0];
  }
  const lastEntries = (last?.[1] as RawEntry[] | undefined) ?? [];
  const fields = hash?.[1] as Record<string, string> | undefined;
  const hashed = toMeta(streamId, fields);
  const meta = toMeta(streamId, entryMeta(lastEntries[0])) ?? hashed ?? toMeta(streamId, entryMeta((first?.[1] as RawEntry[] | undefined)?.[0]));
  if (!meta) return undefined;
  const lastFrame = lastFrameOf(lastEntries);
  // Format 1 writes the end state in the hash; format 2's is its terminal frame.
  return { meta, hashed: hashed !== undefined, state: fields?.state as StreamState | undefined, lastFrame, ended: lastFrame !== undefined && isTerminal(lastFrame.type) };
}

function toMeta(streamId: string, raw: Record<string, string> | undefined): StreamMeta | undefined {
  if (!raw || raw.principal === undefined || raw.owner === undefined) return undefined;
  return { streamId, principal: raw.principal, requestId: raw.id ?? streamId, model: raw.model ?? '', startedAt: Number(raw.started_at ?? 0), owner: raw.owner, traceparent: raw.traceparent };
}
