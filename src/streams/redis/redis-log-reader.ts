import type { StreamState, StreamSummary } from '@holysheep/protocol';
import type { RedisService } from '../../redis/redis.service';
import { viewAfter } from '../reader-view';
import { FramePrefixes, isTerminal, type StreamFrameType } from '../record-frame';
import { ReplayPacer } from '../replay-pacer';
import type { LogReader, LogSnapshot, LogSubscription, StreamMeta } from '../stream-log';
import { entriesReadAfter, lastFrameOf, metaKey, principalKey, readEntriesAfter, streamKey, type RawEntry } from './redis-log-format';
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
    const pipeline = readEntriesAfter(client.pipeline().hgetall(metaKey(streamId)), streamId, afterSeq, FIRST_PAGE_ENTRIES);
    const [[metaError, raw], ...reads] = (await pipeline.exec()) as Array<[Error | null, unknown]>;
    if (metaError) throw metaError;
    const entries = entriesReadAfter(reads);
    const meta = toMeta(streamId, raw as Record<string, string>);
    if (!meta) return undefined;
    const prefixes = new FramePrefixes(meta.requestId);
    const page = pageOf(entries, prefixes, ((reads[1]?.[1] as RawEntry[] | undefined)?.length ?? 0) >= FIRST_PAGE_ENTRIES - 1);
    // A flushed or failed-over Redis loses entries: a replay with a hole is refused, not presented whole.
    const state = (raw as Record<string, string>).state;
    const ended = state !== undefined && state !== 'pending';
    if (viewAfter(afterSeq, page.frames, ended && !page.more) === 'gone') return undefined;
    return new RedisSubscription(this.follower, this.redis, meta, prefixes, reader, afterSeq, page, this.holdings, { readTimeoutMs: this.options.readTimeoutMs, pacer: this.pacer, ended });
  }

  async list(principal: string): Promise<StreamSummary[]> {
    const client = this.redis.client!;
    const oldest = Date.now() - this.options.runningTtlMs - this.options.retentionMs;
    const ids = await client.zrevrangebyscore(principalKey(principal), '+inf', oldest);
    if (ids.length === 0) return [];
    // On a Cluster, one pipeline per node (each stream's two keys share a slot): `slot-pipeline.ts`.
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(metaKey(id)).xrevrange(streamKey(id), '+', '-', 'COUNT', 1);
    const results = (await pipeline.exec()) ?? [];
    const summaries: StreamSummary[] = [];
    ids.forEach((streamId, i) => {
      const raw = results[2 * i]?.[1] as Record<string, string> | undefined;
      const meta = raw && toMeta(streamId, raw);
      if (!meta || meta.principal !== principal) return;
      const last = lastFrameOf((results[2 * i + 1]?.[1] as RawEntry[]) ?? []);
      const lastSeq = last?.seq ?? 0;
      summaries.push({ stream_id: streamId, id: meta.requestId, model: meta.model, state: stateOf(last?.type, lastSeq), last_seq: lastSeq, started_at: new Date(meta.startedAt).toISOString() });
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
    const client = this.redis.client!;
    const [[metaError, raw], [lastError, last]] = (await client.pipeline().hgetall(metaKey(streamId)).xrevrange(streamKey(streamId), '+', '-', 'COUNT', 1).exec()) as Array<[Error | null, unknown]>;
    if (metaError || lastError) throw metaError ?? lastError;
    const meta = toMeta(streamId, raw as Record<string, string>);
    if (!meta) return MISSING;
    if (meta.principal !== principal) return undefined;
    const lastFrame = lastFrameOf(last as RawEntry[]);
    const lastSeq = lastFrame?.seq ?? 0;
    const ended = lastFrame !== undefined && isTerminal(lastFrame.type);
    const state = (raw as Record<string, string>).state as StreamState | undefined;
    return { meta, state: ended ? (state ?? stateOf(lastFrame.type, lastSeq)) : stateOf(undefined, lastSeq), lastSeq };
  }
}

/** A stream's state from its last logged frame. */
function stateOf(lastType: StreamFrameType | undefined, lastSeq: number): StreamState {
  if (lastType !== undefined && isTerminal(lastType)) return lastType === 'chat.done' ? 'done' : 'failed';
  return lastSeq > 0 ? 'streaming' : 'pending';
}

function toMeta(streamId: string, raw: Record<string, string> | undefined): StreamMeta | undefined {
  if (!raw || raw.principal === undefined || raw.owner === undefined) return undefined;
  return { streamId, principal: raw.principal, requestId: raw.id ?? streamId, model: raw.model ?? '', startedAt: Number(raw.started_at ?? 0), owner: raw.owner, traceparent: raw.traceparent };
}
