import type { RedisService } from '../../redis/redis.service';
import { viewAfter } from '../reader-view';
import type { FramePrefixes, RecordFrame } from '../record-frame';
import type { LogReader, LogSubscription, StreamMeta } from '../stream-log';
import type { RedisFollower } from './redis-follower';
import { entriesReadAfter, parseEntries, readEntriesAfter } from './redis-log-format';

/**
 * One watcher's read of a stream in Redis: the frames read when it was opened, then live ones
 * through the {@link RedisFollower}. Paused by its socket's backpressure; on resume it reads again
 * from Redis what it missed. Starts paused.
 */
/** Bytes of frames read from Redis for replays and not yet delivered, over all subscriptions of an instance. */
export class ReplayHoldings {
  bytes = 0;
}

/** What a frame read back costs held: its JSON's length (one byte per character of ASCII). */
const heldBytesOf = (frame: RecordFrame) => frame.rest.length;

export class RedisSubscription implements LogSubscription {
  private paused = true;
  private closed = false;
  private missed = false;
  private live = false;
  private catchingUp = false;
  /** The seq of the last frame read when it was opened. */
  private readonly backlogEnd: number;

  constructor(
    private readonly follower: RedisFollower,
    private readonly redis: RedisService,
    readonly meta: StreamMeta,
    /** Those of the id the stream was requested with: what its logged frames start with. */
    readonly prefixes: FramePrefixes,
    private readonly reader: LogReader,
    public position: number,
    /** What was read when it was opened (all frames kept), and the id of the last entry. */
    private backlog: RecordFrame[],
    private readonly cursor: string,
    private readonly holdings: ReplayHoldings,
  ) {
    this.backlogEnd = backlog.at(-1)?.seq ?? 0;
    for (const frame of backlog) holdings.bytes += heldBytesOf(frame);
  }

  get streamId(): string {
    return this.meta.streamId;
  }

  /**
   * A frame read live: delivered if it is the next one and this reader is not paused. One past a
   * gap while reading live (entries the follower never saw) sends it back to Redis for the rest.
   */
  offer(frame: RecordFrame): void {
    if (this.closed || frame.seq <= this.position) return;
    if (this.paused || this.catchingUp || frame.seq > this.position + 1) {
      this.missed = true;
      if (!this.paused && this.live) void this.catchUp();
      return;
    }
    this.deliver(frame);
  }

  producerDied(): void {
    if (this.closed) return;
    this.close();
    this.reader.lost('producer_died');
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused || this.closed) return;
    this.paused = false;
    this.drainBacklog();
    if (this.closed || this.paused) return;
    if (!this.live) {
      this.live = true;
      this.follower.add(this, this.cursor, Math.max(this.position, this.backlogEnd));
    } else if (this.missed) {
      void this.catchUp();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const frame of this.backlog.splice(0)) this.holdings.bytes -= heldBytesOf(frame);
    this.follower.remove(this);
  }

  private drainBacklog(): void {
    while (this.backlog.length > 0 && !this.paused && !this.closed) {
      const frame = this.backlog.shift()!;
      this.holdings.bytes -= heldBytesOf(frame);
      if (frame.seq > this.position) this.deliver(frame);
    }
  }

  /**
   * Reads again from Redis what arrived while this reader was paused. Frames after its position
   * that the per-stream bound already trimmed cannot come back: the reader is told they were
   * evicted (as the in-memory log does), instead of waiting for them while the stream runs on.
   */
  private async catchUp(): Promise<void> {
    if (this.catchingUp) return;
    this.catchingUp = true;
    try {
      do {
        this.missed = false;
        const frames = await this.readAfter(this.position);
        if (this.closed) return;
        if (viewAfter(this.position, frames) === 'gone') {
          this.close();
          this.reader.lost('evicted');
          return;
        }
        for (const frame of frames) {
          if (this.paused || this.closed) break;
          if (frame.seq === this.position + 1) this.deliver(frame);
        }
      } while (this.missed && !this.paused && !this.closed);
    } catch (error) {
      this.redis.failed('follow', error);
      this.close();
      this.reader.lost('log_lost');
    } finally {
      this.catchingUp = false;
    }
  }

  /** The frames from the entry holding seq `after + 1` on, in one round trip. */
  private async readAfter(after: number): Promise<RecordFrame[]> {
    const results = (await readEntriesAfter(this.redis.client!.pipeline(), this.streamId, after).exec()) ?? [];
    return parseEntries(entriesReadAfter(results), this.prefixes);
  }

  private deliver(frame: RecordFrame): void {
    this.position = frame.seq;
    this.reader.frame(frame);
  }
}
