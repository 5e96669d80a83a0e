import type { StreamState, StreamSummary } from '@holysheep/protocol';
import { viewAfter } from './reader-view';
import { FramePrefixes, isTerminal, type RecordFrame } from './record-frame';
import { RecordSlabs } from './record-slabs';
import type { LogReader, LogSubscription, StreamMeta, StreamProducer } from './stream-log';

/**
 * One stream in the log, kept in this process: every frame from `chat.started` on, while it runs
 * and for its retention after, within `maxBytes`. Readers (sockets watching it) follow it from any
 * seq, each at its own pace; the Redis writer, when there is one, copies it from here.
 *
 * Past `maxBytes` the oldest frames go, but never ones an attached reader has yet to read: then the
 * producer is paused (`producer.pause()`, i.e. the upstream body is not read) until the slowest
 * reader catches up or leaves. When the last reader leaves a running stream (its socket closed:
 * 4008, 4401, a lost network) the record keeps every frame it holds from then on for the client
 * coming back ({@link waiting}), and pauses the producer at the bound rather than drop any, until a
 * reader follows it again or it ends (its grace ran out). Only an ended stream with no reader, or
 * one released by {@link stopKeeping}, drops its oldest frames freely; a resume from below them is refused.
 *
 * The frames themselves are kept as bytes off the V8 heap ({@link RecordSlabs}), whole, as the
 * WebSocket frames the socket that asked for the stream receives: a reader that knows the stream by
 * that id is handed them (`wire`) and writes them as they are, so each chunk is encoded and framed
 * once; anyone else gets the frame's `rest` to put behind its own id.
 */
export class StreamRecord {
  readonly meta: StreamMeta;
  state: StreamState = 'pending';
  endedAt: number | undefined;
  /** The frame at slab position i has seq `firstSeq + i`. */
  private readonly frames = new RecordSlabs();
  /** The frames are kept whole, under the id the stream was requested with. */
  private readonly prefixes: FramePrefixes;
  private firstSeq = 1;
  private bytes = 0;
  private readonly subscriptions = new Set<RecordSubscription>();
  private producerPaused = false;
  /** While nobody reads the running stream: frames from this seq on are kept for its client (see {@link waiting}). */
  private keepFrom: number | undefined;
  /** Told after every append (the Redis writer marks the stream for its next batch). */
  onAppend: (() => void) | undefined;

  constructor(
    meta: StreamMeta,
    private readonly maxBytes: number,
    /** The upstream feeding this stream: paused while the record is full of unread frames, told of a cancel. */
    readonly producer?: StreamProducer,
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

  /** Running with no reader, keeping its frames for a client that may resume (its upstream pauses at the bound). */
  get waiting(): boolean {
    return this.keepFrom !== undefined && this.subscriptions.size === 0 && !this.ended;
  }

  /**
   * The seq from which this record keeps every frame for a client that may resume (undefined when
   * it keeps none on purpose). Another copy of the log (Redis) trims no further either.
   */
  get keptFrom(): number | undefined {
    return this.keepFrom;
  }

  /**
   * Nobody will come back here for the frames kept since the last reader left (a drain hands the
   * stream to other replicas): the oldest go past the bound again, and the producer goes on.
   */
  stopKeeping(): void {
    if (this.keepFrom === undefined) return;
    this.keepFrom = undefined;
    this.evict();
  }

  /** Appends the next frame and hands it to every reader that is keeping up; `now` starts the retention clock (terminal frames). */
  append(frame: RecordFrame, now = 0): void {
    const type = frame.type;
    const wire = this.frames.push(type, this.prefixes.prefixOf(type), frame.rest);
    const bytes = this.frames.sizeAt(this.frames.length - 1);
    this.bytes += bytes;
    this.onSize?.(bytes);
    if (type === 'chat.started') this.state = 'streaming';
    else if (isTerminal(type)) {
      this.state = type === 'chat.done' ? 'done' : 'failed';
      this.endedAt = now;
      this.frames.shrink();
      this.onEnd?.(this);
    }
    for (const subscription of this.subscriptions) subscription.offer(frame, wire);
    this.onAppend?.();
    if (this.bytes > this.maxBytes) this.evict();
  }

  /** The model serving it, known with the first chunk. */
  setModel(model: string): void {
    this.meta.model = model;
  }

  /**
   * Reads from `afterSeq` on, once resumed (a subscription starts paused, so its reader can wire
   * itself up first); undefined when frames after `afterSeq` are already gone.
   */
  follow(afterSeq: number, reader: LogReader): LogSubscription | undefined {
    if (viewAfter(afterSeq, this.firstSeq) === 'gone') return undefined;
    // Someone reads it again: what it needs is kept for its cursor now.
    this.keepFrom = undefined;
    const subscription = new RecordSubscription(this, reader, afterSeq, reader.id === this.meta.requestId);
    this.subscriptions.add(subscription);
    return subscription;
  }

  summary(): StreamSummary {
    const { streamId, requestId, model, startedAt } = this.meta;
    return { stream_id: streamId, id: requestId, model, state: this.state, last_seq: Math.max(0, this.lastSeq), started_at: new Date(startedAt).toISOString() };
  }

  /** The frame with seq `after + 1`, for a reader catching up (one at a time: its delivery may pause it). */
  frameAfter(after: number): RecordFrame | undefined {
    return this.frames.at(after + 1 - this.firstSeq, after + 1);
  }

  /** Frame `seq` as a WebSocket text frame under the requested id (see {@link RecordSlabs.wireAt}). */
  wireOf(seq: number): Buffer | undefined {
    return this.frames.wireAt(seq - this.firstSeq);
  }

  /** Frame `seq`'s JSON under the requested id, as UTF-8: the bytes held, not a copy. */
  payloadOf(seq: number): Buffer | undefined {
    return this.frames.payloadAt(seq - this.firstSeq);
  }

  /** What frame `seq` counts for the bounds (it is held). */
  sizeOf(seq: number): number {
    return this.frames.sizeAt(seq - this.firstSeq);
  }

  /** The seq of the oldest frame still kept (for a record holding none, that of the next one). */
  get oldestSeq(): number {
    return this.firstSeq;
  }

  /** Drops every frame; readers still attached are told. */
  discard(): void {
    this.keepFrom = undefined;
    this.frames.clear();
    this.onSize?.(-this.bytes);
    this.bytes = 0;
    for (const subscription of [...this.subscriptions]) subscription.lose('evicted');
  }

  /** @internal */
  detach(subscription: RecordSubscription): void {
    this.subscriptions.delete(subscription);
    // The last reader left a running stream: its client may come back for anything still held
    // (its socket may not have delivered what was written to it), so nothing held goes now.
    if (this.subscriptions.size === 0 && !this.ended) this.keepFrom = this.firstSeq;
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
    if (this.bytes > this.maxBytes && !this.ended) this.overtakeSlow();
    const full = this.bytes > this.maxBytes && !this.ended;
    if (full !== this.producerPaused) {
      this.producerPaused = full;
      if (full) this.producer?.pause();
      else this.producer?.resume();
    }
  }

  /**
   * Full while a reader keeps up: the readers that are behind (their socket over its mark) are cut
   * loose, slowest first, until the bound holds, so one slow socket never pauses the stream for the
   * others (issue 21 item 9). Only when every attached reader is behind does the producer pause.
   */
  private overtakeSlow(): void {
    const behind = [...this.subscriptions].filter((s) => s.behind).sort((a, b) => a.position - b.position);
    if (behind.length === this.subscriptions.size) return;
    const cut: RecordSubscription[] = [];
    for (const subscription of behind) {
      if (this.bytes <= this.maxBytes) break;
      // Not through close(): its detach would re-enter this eviction.
      this.subscriptions.delete(subscription);
      subscription.cutLoose();
      cut.push(subscription);
      this.dropOldest(this.maxBytes);
    }
    for (const subscription of cut) subscription.overtaken(this.firstSeq);
  }

  private dropOldest(targetBytes: number): void {
    let keepFrom = this.keepFrom ?? Infinity;
    for (const subscription of this.subscriptions) keepFrom = Math.min(keepFrom, subscription.position + 1);
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
      for (const subscription of [...this.subscriptions]) if (viewAfter(subscription.position, this.firstSeq) === 'gone') subscription.lose('evicted');
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
    /** The reader knows the stream by the id it was requested with: the held bytes are its frames. */
    private readonly handsWire: boolean,
  ) {}

  /** A frame just appended (`wire`: its bytes as held): delivered at once when this reader is keeping up. */
  offer(frame: RecordFrame, wire: Buffer): void {
    if (this.paused || this.closed || this.delivering || frame.seq !== this.position + 1) return;
    this.position = frame.seq;
    this.reader.frame(frame, this.handsWire ? wire : undefined, true);
  }

  /** Delivers what this reader has not read yet, until it is paused or has caught up. */
  catchUp(): void {
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let frame = this.record.frameAfter(this.position); frame && !this.paused && !this.closed; frame = this.record.frameAfter(this.position)) {
        this.position = frame.seq;
        this.reader.frame(frame, this.handsWire ? this.record.wireOf(frame.seq) : undefined);
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

  get behind(): boolean {
    return this.reader.behind === true;
  }

  /** The record let go of it (see {@link StreamRecord.overtakeSlow}): it delivers no more. */
  cutLoose(): void {
    this.closed = true;
  }

  /** Cut loose: told where the log now starts. */
  overtaken(keptFrom: number): void {
    this.reader.lost('overtaken', keptFrom);
  }

  lose(reason: 'evicted'): void {
    this.close();
    this.reader.lost(reason);
  }
}
