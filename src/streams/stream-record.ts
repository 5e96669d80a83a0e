import type { Pausable } from '../backpressure/flow-gate';
import type { StreamState, StreamSummary } from '@holysheep/protocol';
import { FrameStore } from './frame-store';
import { FramePrefixes, frameBytes, isTerminal, type LoggedFrame } from './logged-frame';
import type { LogReader, LogSubscription, StreamMeta } from './stream-log';

/**
 * The frames of one stream kept in this process: every frame from `chat.started` on, while it runs
 * and for its retention after, within `maxBytes`. Readers (sockets watching it, the Redis
 * replicator) follow it from any seq, each at its own pace.
 *
 * Past `maxBytes` the oldest frames go, but never ones an attached reader has yet to read: then the
 * producer is paused (`producer.pause()`, i.e. the upstream body is not read) until the slowest
 * reader catches up or leaves. With no reader attached the oldest frames simply go, and a resume
 * from below them is refused.
 *
 * The frames themselves are kept as bytes off the V8 heap ({@link FrameStore}), whole, as the
 * WebSocket frames the socket that asked for the stream receives: readers get each frame with
 * them (`wire`), which that socket writes as they are (each chunk encoded and framed once), and its
 * `rest` for anyone else.
 */
export class StreamRecord {
  readonly meta: StreamMeta;
  state: StreamState = 'pending';
  endedAt: number | undefined;
  /** The frame at store position i has seq `firstSeq + i`. */
  private readonly frames = new FrameStore();
  /** The frames are kept whole, under the id the stream was requested with. */
  private readonly prefixes: FramePrefixes;
  private firstSeq = 1;
  private bytes = 0;
  private readonly subscriptions = new Set<RecordSubscription>();
  private producerPaused = false;
  /** Told after every append (the Redis log marks the stream for its next batch). */
  onAppend: (() => void) | undefined;

  constructor(
    meta: StreamMeta,
    private readonly maxBytes: number,
    /** The upstream body feeding this stream, paused while the record is full of unread frames. */
    private readonly producer?: Pausable,
    /** Told of every change in bytes held, for a bound over many records. */
    private readonly onSize?: (delta: number) => void,
    /** Told once, when the terminal frame is appended. */
    private readonly onEnd?: (record: StreamRecord) => void,
  ) {
    this.meta = meta;
    this.prefixes = new FramePrefixes(meta.requestId);
  }

  get lastSeq(): number {
    return this.firstSeq + this.frames.length - 1;
  }

  get ended(): boolean {
    return this.endedAt !== undefined;
  }

  get size(): number {
    return this.bytes;
  }

  get readerCount(): number {
    return this.subscriptions.size;
  }

  /** Appends the next frame and hands it to every reader that is keeping up; `now` ends the retention clock's wait (terminal frames). */
  append(appended: LoggedFrame, now = 0): void {
    const bytes = frameBytes(appended);
    const { seq, type, rest } = appended;
    // Readers get the frame with its encoded bytes (under the request's id): see LoggedFrame.wire.
    const frame: LoggedFrame = { seq, type, rest, wire: this.frames.push(type, this.prefixes.prefixOf(type), rest, bytes) };
    this.bytes += bytes;
    this.onSize?.(bytes);
    if (frame.type === 'chat.started') this.state = 'streaming';
    else if (isTerminal(frame.type)) {
      this.state = frame.type === 'chat.done' ? 'done' : 'failed';
      this.endedAt = now;
      this.frames.shrink();
      this.onEnd?.(this);
    }
    for (const subscription of this.subscriptions) subscription.offer(frame);
    this.onAppend?.();
    if (this.bytes > this.maxBytes) this.evict();
  }

  /** The model serving it, known with the first chunk. */
  setModel(model: string): void {
    this.meta.model = model;
  }

  /**
   * Reads from `afterSeq` on, once resumed (a subscription starts paused, so its reader can wire
   * itself up first); undefined when frames after `afterSeq` are already gone. A `weak` reader (the
   * replicator) never holds frames back: if the bound passes it, it is told it lost them.
   */
  follow(afterSeq: number, reader: LogReader, options: { weak?: boolean } = {}): LogSubscription | undefined {
    if (afterSeq + 1 < this.firstSeq) return undefined;
    const subscription = new RecordSubscription(this, reader, afterSeq, options.weak ?? false);
    this.subscriptions.add(subscription);
    return subscription;
  }

  summary(): StreamSummary {
    const { streamId, requestId, model, startedAt } = this.meta;
    return { stream_id: streamId, id: requestId, model, state: this.state, last_seq: Math.max(0, this.lastSeq), started_at: new Date(startedAt).toISOString() };
  }

  /** The frame with seq `after + 1`, for a reader catching up (one at a time: its delivery may pause it). */
  frameAfter(after: number): LoggedFrame | undefined {
    return this.frames.at(after + 1 - this.firstSeq, after + 1);
  }

  /** The seq of the oldest frame still kept. */
  get oldestSeq(): number {
    return this.firstSeq;
  }

  /** Drops every frame; readers still attached are told. */
  discard(): void {
    this.frames.clear();
    this.onSize?.(-this.bytes);
    this.bytes = 0;
    for (const subscription of [...this.subscriptions]) subscription.lose('evicted');
  }

  /** @internal */
  detach(subscription: RecordSubscription): void {
    this.subscriptions.delete(subscription);
    if (this.producerPaused) this.evict();
  }

  /** @internal A reader caught up: room may have been freed. */
  readerMoved(): void {
    if (this.producerPaused || this.bytes > this.maxBytes) this.evict();
  }

  /**
   * Drops the oldest frames no attached reader still needs until at most `targetBytes` remain
   * (all instances' streams together may be over their own bound).
   */
  trim(targetBytes: number): void {
    this.dropOldest(targetBytes);
  }

  /** Drops the oldest frames down to the bound, never past an attached reader; pauses the producer if that is not enough. */
  private evict(): void {
    this.dropOldest(this.maxBytes);
    const full = this.bytes > this.maxBytes && !this.ended;
    if (full !== this.producerPaused) {
      this.producerPaused = full;
      if (full) this.producer?.pause();
      else this.producer?.resume();
    }
  }

  private dropOldest(targetBytes: number): void {
    let keepFrom = Infinity;
    for (const subscription of this.subscriptions) if (!subscription.weak) keepFrom = Math.min(keepFrom, subscription.position + 1);
    let dropped = 0;
    let freed = 0;
    while (this.bytes - freed > targetBytes && dropped < this.frames.length && this.firstSeq + dropped < keepFrom) {
      freed += this.frames.sizeAt(dropped);
      dropped++;
    }
    this.bytes -= freed;
    if (freed > 0) this.onSize?.(-freed);
    if (dropped > 0) {
      this.frames.dropFirst(dropped);
      this.firstSeq += dropped;
      for (const subscription of [...this.subscriptions]) if (subscription.position + 1 < this.firstSeq) subscription.lose('evicted');
    }
  }
}

/** One reader's cursor over a {@link StreamRecord}. */
class RecordSubscription implements LogSubscription {
  private paused = true;
  private closed = false;
  private delivering = false;

  constructor(
    private readonly record: StreamRecord,
    private readonly reader: LogReader,
    public position: number,
    readonly weak: boolean,
  ) {}

  /** A frame just appended: delivered at once when this reader is keeping up. */
  offer(frame: LoggedFrame): void {
    if (this.paused || this.closed || this.delivering || frame.seq !== this.position + 1) return;
    this.position = frame.seq;
    this.reader.frame(frame);
  }

  /** Delivers what this reader has not read yet, until it is paused or has caught up. */
  catchUp(): void {
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let frame = this.record.frameAfter(this.position); frame && !this.paused && !this.closed; frame = this.record.frameAfter(this.position)) {
        this.position = frame.seq;
        this.reader.frame(frame);
      }
    } finally {
      this.delivering = false;
    }
    this.record.readerMoved();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused || this.closed) return;
    this.paused = false;
    this.catchUp();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.record.detach(this);
  }

  lose(reason: 'evicted'): void {
    this.close();
    this.reader.lost(reason);
  }
}
