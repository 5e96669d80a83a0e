import { withDeadline } from '../../async/race-timeout';
import type { RedisService } from '../../redis/redis.service';
import { MemoryStreamLog, newestFirst, type MemoryStreamLogOptions } from '../memory-stream-log';
import type { LogReader, LogSnapshot, LogSubscription, NewStreamMeta, StreamListing, StreamLog, StreamProducer } from '../stream-log';
import type { StreamRecord } from '../stream-record';
import { RedisLogReader } from './redis-log-reader';
import { RedisLogWriter, type RedisLogWriterOptions } from './redis-log-writer';
import type { StreamOwnership } from './stream-ownership';
import { StreamPresence } from './stream-presence';

/** The longest a read of Redis on a socket's path (resume, list) waits, like the shared limits' 500 ms. */
export const REDIS_READ_TIMEOUT_MS = 500;

/**
 * The stream log with `REDIS_URL`: every replica's streams, readable from any of them. This
 * instance's own streams are kept in memory ({@link MemoryStreamLog}: its sockets read them there,
 * complete even while Redis is away) and copied to Redis ({@link RedisLogWriter}); other replicas'
 * streams are read from Redis ({@link RedisLogReader}). Who owns which stream — leases, fencing,
 * cancels sent to the owner — is {@link StreamOwnership}'s; which replicas watch which stream,
 * {@link StreamPresence}'s.
 *
 * A Redis failure on a read reads as "not there" (and is counted): nothing waits on an outage.
 * Every read is bounded by {@link REDIS_READ_TIMEOUT_MS}: a Redis that is up but does not answer
 * (stopped, a blackholed network) costs a socket at most that, then counts as a failure.
 *
 * A stream fenced off here (another instance ended its log while this one was cut off) has one
 * ending, the log's: its producer is stopped with the same `upstream_disconnected`, and from then
 * on it is read from Redis here too, so a resume here replays what a resume anywhere else does.
 */
export class ReplicatedStreamLog implements StreamLog {
  private readonly memory: MemoryStreamLog;
  private readonly writer: RedisLogWriter;
  private readonly reader: RedisLogReader;
  private readonly presence: StreamPresence;
  /** Streams of this instance that another ended in the log: read from Redis, like anyone's. */
  private readonly fenced = new Set<string>();

  constructor(
    private readonly redis: RedisService,
    private readonly ownership: StreamOwnership,
    options: { memory: MemoryStreamLogOptions; redis: RedisLogWriterOptions & { leaseMs: number; graceMs: number } },
    /** Told of every batch written: its entries (one per stream) and frames. */
    onBatch: (entries: number, frames: number) => void,
  ) {
    this.memory = new MemoryStreamLog({ ...options.memory, owner: ownership.instance });
    this.writer = new RedisLogWriter(redis, ownership, options.redis, onBatch, (record) => this.fence(record));
    this.presence = new StreamPresence(redis, ownership.instance, options.redis.leaseMs, options.redis.graceMs);
    this.reader = new RedisLogReader(redis, ownership, this.presence, { ...options.redis, readTimeoutMs: REDIS_READ_TIMEOUT_MS });
    ownership.onLeaseLost(() => void this.writer.heal());
  }

  /**
   * Starts holding this instance's lease and taking cancels of its streams from other replicas.
   * @returns resolves once the lease is first held (when Redis is up)
   */
  start(): Promise<void> {
    return this.ownership.start((streamId) => this.memory.cancel(streamId));
  }

  open(meta: NewStreamMeta, producer: StreamProducer): StreamRecord {
    const record = this.memory.open(meta, producer);
    this.writer.replicate(record);
    return record;
  }

  /** Whether another replica can resume this instance's streams now: Redis is up. */
  get shared(): boolean {
    return this.redis.up;
  }

  /** Bytes of this instance's streams' frames held in memory. */
  get totalBytes(): number {
    return this.memory.totalBytes;
  }

  async find(streamId: string, principal: string): Promise<LogSnapshot | undefined> {
    const local = this.kept(streamId) ? await this.memory.find(streamId, principal) : undefined;
    return local ?? (await this.fromRedis(() => this.reader.find(streamId, principal)));
  }

  /** A stream kept here is read here (complete, even while Redis is away); any other from Redis. */
  follow(streamId: string, afterSeq: number, reader: LogReader): Promise<LogSubscription | undefined> {
    if (this.kept(streamId)) return this.memory.follow(streamId, afterSeq, reader);
    // A subscription made after its resume gave up is closed, not left following.
    return this.fromRedis(() => this.reader.follow(streamId, afterSeq, reader), (late) => late?.close());
  }

  /**
   * A stream of this instance whose grace ran out with no socket here: resolves true once nobody
   * has watched it on any replica for `graceMs` as far as Redis tells (never while it cannot
   * tell), false once that no longer needs deciding (it ended, or a socket here watches it).
   */
  unwatched(streamId: string, graceMs: number): Promise<boolean> {
    const record = this.memory.get(streamId);
    if (!record) return Promise.resolve(false);
    return this.presence.unwatched(streamId, graceMs, () => !record.ended && record.readerCount === 0 && this.memory.get(streamId) === record);
  }

  /**
   * A stream of this instance lost its last socket here: while it keeps its frames for that
   * client, look (one read per renewal period) whether a socket on another replica watches it; if
   * one does, it reads from Redis, so the frames are released and the stream does not pause here.
   */
  detached(streamId: string): void {
    const record = this.memory.get(streamId);
    if (!record) return;
    const keeping = () => !record.ended && record.readerCount === 0 && record.keptFrom !== undefined && this.memory.get(streamId) === record;
    void this.presence.watchedElsewhere(streamId, keeping).then((watched) => {
      if (watched && keeping()) record.stopKeeping();
    });
  }

  /** This instance's streams and, read in bounded time, other replicas'; without theirs, `partial`. */
  async list(principal: string): Promise<StreamListing> {
    const local = (await this.memory.list(principal)).streams.filter((s) => !this.fenced.has(s.stream_id));
    const shared = await this.fromRedis(() => this.reader.list(principal));
    if (!shared) return { streams: local, partial: true };
    const seen = new Set(local.map((s) => s.stream_id));
    return { streams: newestFirst([...local, ...shared.filter((s) => !seen.has(s.stream_id))]) };
  }

  /** A stream of this instance is cancelled here; one followed from another is cancelled by its owner, told over Redis. */
  cancel(streamId: string): void {
    if (this.memory.get(streamId)) return this.memory.cancel(streamId);
    const owner = this.reader.ownerOf(streamId);
    if (owner !== undefined) this.ownership.cancel(owner, streamId).catch((error) => this.redis.failed('cancel', error));
  }

  /** Whether a stream is read from memory here: this instance's, and not fenced off. */
  private kept(streamId: string): boolean {
    if (!this.memory.get(streamId)) {
      this.fenced.delete(streamId);
      return false;
    }
    return !this.fenced.has(streamId);
  }

  /** Another instance ended this stream's log: its ending is the stream's, here too. */
  private fence(record: StreamRecord): void {
    this.fenced.add(record.meta.streamId);
    record.producer?.fenced();
  }

  /** Bytes of frames read from Redis for replays here and not yet sent (bounded by a page per subscription). */
  get replayBytes(): number {
    return this.reader.holdings.bytes;
  }

  /** Writes what is pending now (a drain, or a test waiting for Redis to have it). */
  flushNow(): Promise<void> {
    return this.writer.flushNow();
  }

  async release(): Promise<void> {
    await this.writer.flushNow().catch((error) => this.redis.failed('log_write', error));
    await this.ownership.stop();
    this.writer.close();
    this.reader.close();
    this.presence.close();
  }

  /**
   * Stops the memory log's sweeper. Redis writes and reads go on: Nest destroys modules before the
   * drain, which still needs them; {@link release} ends them.
   */
  close(): void {
    this.memory.close();
  }

  /**
   * Runs a read of Redis for at most {@link REDIS_READ_TIMEOUT_MS}; a failure or no answer in time
   * reads as "not there" (and is counted). What the read yields too late goes to `late`.
   */
  private async fromRedis<T>(read: () => Promise<T>, late?: (value: T) => void): Promise<T | undefined> {
    if (!this.redis.up) return undefined;
    try {
      return await withDeadline(read(), REDIS_READ_TIMEOUT_MS, 'stream log read', late);
    } catch (error) {
      this.redis.failed('log_read', error);
      return undefined;
    }
  }
}
