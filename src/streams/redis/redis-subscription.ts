import type { RedisService } from '../../redis/redis.service';
import { viewAfter } from '../reader-view';
import type { FramePrefixes, RecordFrame } from '../record-frame';
import type { Paced, ReplayPacer } from '../replay-pacer';
import type { LogReader, LogSubscription, StreamMeta } from '../stream-log';
import type { RedisFollower } from './redis-follower';
import { readPage, type PageStart, type ReplayPage } from './redis-replay-page';

/** Bytes of frames read from Redis for replays and not yet delivered, over all subscriptions of an instance. */
export class ReplayHoldings {
  bytes = 0;
}

/** What a frame read back costs held: its JSON's length (one byte per character of ASCII). */
const heldBytesOf = (frame: RecordFrame) => frame.rest.length;

/** How a subscription reads Redis: its bound per read, and whether the stream had ended when it was opened. */
export interface RedisSubscriptionOptions {
  readTimeoutMs: number;
  /** Where a page read back waits for its turn: pages arriving together go out a few ms per turn. */
  pacer: ReplayPacer;
  /** Its meta said it had ended: a page that comes back empty before its terminal means its log is gone. */
  ended: boolean;
  /** Its meta is in a hash (log format 1): an orphan's end writes its state there too, for readers of the release before. */
  hashed: boolean;
}

/**
 * One watcher's read of a stream in Redis: the log, a page at a time ({@link readPage}), then live
 * frames through the {@link RedisFollower}. Paused by its socket's backpressure; it holds at most
 * one page its socket has not taken, and reads the next only when resumed with this one taken —
 * so a resume storm costs each socket its send-buffer mark plus a page per stream it replays. Pages
 * go out in {@link ReplayPacer} turns: the watcher's pacer spreads a replay's pages, and a page that
 * arrives from Redis waits for a turn of the reader's own, so hundreds arriving at once take a few
 * ms per event-loop turn, never one long stall of everyone else's frames. A reader that
 * missed live frames (paused, or a gap) reads them back from Redis the same way. Starts paused.
 */
export class RedisSubscription implements LogSubscription, Paced {
  private paused = true;
  private closed = false;
  /** Following live through the follower (once the log was read to its end). */
  private live = false;
  /** A page read under way. */
  private reading = false;
  /** Live frames were not taken (paused, reading, or past a gap): read from Redis before taking more. */
  private missed = false;
  /** The page read, not yet delivered from `next` on. */
  private page: RecordFrame[] = [];
  private next = 0;
  /** After the entry a page ended with; undefined once live frames moved past it (then from `position`). */
  private cursor: string | undefined;
  /** Whether Redis may hold more entries after `cursor`. */
  private more: boolean;
  private longest: number;

  constructor(
    private readonly follower: RedisFollower,
    private readonly redis: RedisService,
    readonly meta: StreamMeta,
    /** Those of the id the stream was requested with: what its logged frames start with. */
    readonly prefixes: FramePrefixes,
    private readonly reader: LogReader,
    public position: number,
    /** The first page, read (and checked whole) when it was opened. */
    first: ReplayPage,
    private readonly holdings: ReplayHoldings,
    readonly options: RedisSubscriptionOptions,
  ) {
    this.more = first.more;
    this.longest = first.longest;
    this.cursor = first.cursor ?? '0-0';
    this.hold(first.frames);
  }

  get streamId(): string {
    return this.meta.streamId;
  }

  /**
   * A frame read live: delivered if it is the next one and nothing is read from Redis before it.
   * One past a gap (entries the follower never saw), or one arriving while paused or paging, is
   * read back from Redis instead.
   */
  offer(frame: RecordFrame): void {
    if (this.closed || frame.seq <= this.position) return;
    if (this.paused || this.reading || this.next < this.page.length || frame.seq > this.position + 1) {
      this.missed = true;
      if (!this.paused) this.pump();
      return;
    }
    this.cursor = undefined;
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
    this.pump();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
    this.follower.remove(this);
  }

  /** Delivers the page while the socket takes it; then the next page, or live following once the log is read. */
  private pump(): void {
    while (this.next < this.page.length && !this.paused && !this.closed) {
      const frame = this.page[this.next++]!;
      this.holdings.bytes -= heldBytesOf(frame);
      if (frame.seq === this.position + 1) this.deliver(frame);
    }
    if (this.paused || this.closed || this.reading || this.next < this.page.length) return;
    if (this.more || this.missed) return void this.readNext();
    if (this.live) return;
    this.live = true;
    this.follower.add(this, this.cursor ?? '0-0', this.position);
  }

  /**
   * Reads the next page: after the last entry read, or — once live frames moved past it — from the
   * entry holding the next seq. Frames after the position that are gone (trimmed by the per-stream
   * bound, lost with Redis) cannot come back: the reader is told they were evicted, as the
   * in-memory log does, never handed a replay with a hole.
   */
  private async readNext(): Promise<void> {
    this.reading = true;
    this.missed = false;
    const start: PageStart = this.cursor === undefined ? { after: this.position } : { cursor: this.cursor };
    let page: ReplayPage;
    try {
      page = await readPage(this.redis, this.streamId, this.prefixes, start, this.longest, this.options.readTimeoutMs);
    } catch (error) {
      this.reading = false;
      if (this.closed) return;
      this.redis.failed('follow', error);
      this.close();
      return this.reader.lost('log_lost');
    }
    this.reading = false;
    if (this.closed) return;
    if (viewAfter(this.position, page.frames, this.options.ended && !page.more) === 'gone') {
      // The resume was answered when this subscription opened (its first read was whole): a hole
      // met now, behind frames the reader has, is a gap in the log, which ends with a retryable
      // terminal for this reader alone rather than "not found".
      this.close();
      return this.reader.lost('log_gap');
    }
    this.more = page.more;
    this.longest = page.longest;
    if (page.cursor !== undefined) this.cursor = page.cursor;
    this.hold(page.frames);
    this.options.pacer.later(this);
  }

  /** The page read's turn came. */
  continuePage(): void {
    this.pump();
  }

  /** Takes a page's frames after the position as the one held (the previous one was delivered). */
  private hold(frames: RecordFrame[]): void {
    this.page = frames.filter((frame) => frame.seq > this.position);
    this.next = 0;
    for (const frame of this.page) this.holdings.bytes += heldBytesOf(frame);
  }

  /** Gives back what the page still holds. */
  private release(): void {
    for (; this.next < this.page.length; this.next++) this.holdings.bytes -= heldBytesOf(this.page[this.next]!);
    this.page = [];
  }

  private deliver(frame: RecordFrame): void {
    this.position = frame.seq;
    this.reader.frame(frame);
  }
}
