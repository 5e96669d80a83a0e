import type { StreamFormat } from '@holysheep/protocol';
import type { Pausable } from '../backpressure/flow-gate';
import { compactPrefix, compactTextOfRest, compactWire } from './compact-delta';
import { FramePrefixes, isTerminal, restOf, type RecordFrame } from './record-frame';
import { REPLAY_PAGE_BYTES, type Paced, type ReplayPacer } from './replay-pacer';
import { LOG_GAP, PRODUCER_DIED } from './stream-errors';
import type { LogReader, LogSubscription, LostReason } from './stream-log';
import type { StreamAttachment, StreamSocket } from './stream-socket';

/**
 * One socket watching one stream: it sends the stream's frames under the `id` this socket knows
 * it by, each seq once and in order, from the seq it attached at. When the socket is over its
 * send-buffer mark the watcher stops taking frames (it is a {@link Pausable} on the socket's flow
 * gate) and catches up from the log once the socket drains; a log that fills up while another
 * watcher keeps up cuts this one loose (`stream.overtaken`), so a slow socket never holds up the
 * stream or its other watchers. A replay goes out a page per event-loop turn ({@link ReplayPacer}).
 */
export class StreamWatcher implements LogReader, Pausable, Paced, StreamAttachment {
  /** Built on first use: a socket the log hands every frame ready-encoded needs none. */
  private prefixes: FramePrefixes | undefined;
  /** `{"t":"d","id":…,"s":` for this socket's compact frames, built on first use. */
  private compactPrefix: string | undefined;
  private subscription: LogSubscription | undefined;
  private detachFlow: (() => void) | undefined;
  private ended = false;
  /** Waiting for the pacer: the subscription stays paused until its turn. */
  private yielded = false;
  private pageTurn = -1;
  private pageBytes = 0;
  /** Set while the socket is past what the log holds (a resume ahead of a live stream). */
  private waitTimer: NodeJS.Timeout | undefined;
  /** The seq of the last frame sent to this socket (or the resume's `after_seq`). */
  lastSeq: number;

  constructor(
    private readonly socket: StreamSocket,
    readonly streamId: string,
    /** The `id` this socket knows the stream by. */
    readonly id: string,
    afterSeq: number,
    private readonly pacer: ReplayPacer,
    /** The watcher is done: its terminal frame went out, or it was detached. Once. */
    private readonly onEnded: (watcher: StreamWatcher) => void,
    /** How this socket asked to receive content deltas (`chat.request` / `stream.resume` `format`). */
    readonly format: StreamFormat = 'json',
  ) {
    this.lastSeq = afterSeq;
  }

  /** Whether this socket is over its send-buffer mark (the log cuts it loose if another keeps up). */
  get behind(): boolean {
    return this.socket.flow.isPaused;
  }

  /**
   * Starts reading through `subscription` (created paused), unless the socket is over its mark. A
   * replay (`paced`) starts in a pacer turn, so a burst of resumes costs no turn more than its budget.
   */
  attach(subscription: LogSubscription, paced = false): void {
    if (this.ended) return subscription.close();
    this.subscription = subscription;
    this.detachFlow = this.socket.flow.attach(this);
    if (paced) this.yieldTurn();
    else if (!this.socket.flow.isPaused) subscription.resume();
  }

  /**
   * The socket is ahead of the log (`after_seq` past its last seq): wait for it, or answer
   * `bad_request` once `timeoutMs` passes. Frames up to `after_seq` are skipped.
   */
  awaitLog(timeoutMs: number): void {
    this.waitTimer = setTimeout(() => {
      this.waitTimer = undefined;
      this.refuse(`after_seq ${this.lastSeq} was not reached within ${timeoutMs} ms`);
    }, timeoutMs);
  }

  frame(frame: RecordFrame, wire?: Buffer, live = false): void {
    if (this.ended) return;
    if (frame.seq <= this.lastSeq) {
      if (frame.seq === this.lastSeq) this.stopWaiting();
      // The stream ended at or before the seq this socket says it has.
      if (isTerminal(frame.type)) this.pastEnd(frame.seq, frame.type === 'chat.done' ? 'done' : 'failed');
      return;
    }
    this.lastSeq = frame.seq;
    this.stopWaiting();
    let bytes: number;
    const compact = this.format === 'text' && frame.type === 'chat.chunk' ? this.compactOf(frame) : undefined;
    if (compact !== undefined) {
      this.socket.sendWire(compact);
      bytes = compact.length;
    } else if (wire !== undefined) {
      // The log hands the bytes only when they are this socket's frame (see LogReader.id).
      this.socket.sendWire(wire);
      bytes = wire.length;
    } else {
      const text = (this.prefixes ??= new FramePrefixes(this.id)).render(frame);
      this.socket.sendText(text);
      bytes = text.length;
    }
    if (isTerminal(frame.type)) return this.finish();
    this.count(bytes, live);
  }

  /**
   * A chunk's compact frame for this socket, as a ready WebSocket frame (written like a logged one),
   * or undefined when the chunk carries more than a content delta.
   */
  private compactOf(frame: RecordFrame): Buffer | undefined {
    // Live frames carry their delta; frames read back from the log are parsed (a replay, not the hot path).
    const text = frame.text ?? compactTextOfRest(frame.rest);
    if (text === undefined) return undefined;
    return compactWire((this.compactPrefix ??= compactPrefix(this.id)), frame.seq, text);
  }

  lost(reason: LostReason, keptFrom?: number): void {
    if (this.ended) return;
    if (reason === 'producer_died' || reason === 'log_gap' || reason === 'log_lost') {
      // One past anything this socket has seen (or asked to skip), so a client deduplicating by
      // seq never drops it; sent to this socket alone, never logged.
      const seq = this.lastSeq + 1;
      const failure = reason === 'producer_died' ? PRODUCER_DIED : LOG_GAP;
      this.frame({ seq, type: 'chat.error', rest: restOf({ stream_id: this.streamId, seq, ...failure }) });
      return;
    }
    if (reason === 'overtaken') {
      this.socket.send({ type: 'stream.overtaken', id: this.id, stream_id: this.streamId, last_seq: this.lastSeq, kept_from: keptFrom ?? this.lastSeq + 1 });
      return this.finish();
    }
    this.socket.send({
      type: 'chat.error',
      id: this.id,
      stream_id: this.streamId,
      code: 'stream_not_found',
      message: 'This stream can no longer be followed: part of it is gone',
      retryable: false,
    });
    this.finish();
  }

  pause(): void {
    this.subscription?.pause();
  }

  /**
   * The socket drained below its mark. What piled up meanwhile is a replay from the log, so it waits
   * for a pacer turn like one: resuming at once would send a page from the write callback, outside
   * the turn's budget, and a storm of resuming sockets draining together (each page fills the mark,
   * each write's completion drains it) once stalled another user's stream for 470 ms this way.
   */
  resume(): void {
    if (!this.yielded && this.subscription !== undefined) this.yieldTurn();
  }

  /** The pacer's turn came: one more page (or live frames), unless the socket is over its mark. */
  continuePage(): void {
    if (this.ended) return;
    this.yielded = false;
    this.pageTurn = this.pacer.turn;
    this.pageBytes = 0;
    if (!this.socket.flow.isPaused) this.subscription?.resume();
  }

  /** Stops watching (the socket closed, or the stream was handed to another id). */
  detach(): void {
    this.finish();
  }

  /**
   * Counts a frame against this turn's page; past it, the watcher yields to the next turn. Live
   * frames come at most an upstream read's worth per turn, so for them the turn is looked up only
   * once they add up to a page: looking it up costs the pacer a `setImmediate` in every turn that
   * sends, which for a live stream is one per chunk. So a burst of live frames (one large upstream
   * read) yields after at most two pages in its turn, and a replay after one.
   */
  private count(bytes: number, live: boolean): void {
    this.pageBytes += bytes;
    if (live && this.pageBytes < REPLAY_PAGE_BYTES) return;
    const turn = this.pacer.turn;
    if (turn !== this.pageTurn) {
      this.pageTurn = turn;
      this.pageBytes = bytes;
    }
    if (this.pageBytes >= REPLAY_PAGE_BYTES && !this.yielded) this.yieldTurn();
  }

  private yieldTurn(): void {
    this.yielded = true;
    this.subscription?.pause();
    this.pacer.later(this);
  }

  /** The log's terminal frame is at `seq`, at or before the socket's `after_seq`. */
  private pastEnd(seq: number, state: 'done' | 'failed'): void {
    if (seq === this.lastSeq) {
      this.socket.send({ type: 'stream.complete', id: this.id, stream_id: this.streamId, last_seq: seq, state });
      return this.finish();
    }
    this.refuse(`after_seq ${this.lastSeq} is past the stream's last seq ${seq}`);
  }

  /** Answers the resume `bad_request` under its id (no seq: nothing of the stream) and stops. */
  private refuse(message: string): void {
    if (this.ended) return;
    this.socket.send({ type: 'chat.error', id: this.id, stream_id: this.streamId, code: 'bad_request', message, retryable: false });
    this.finish();
  }

  private stopWaiting(): void {
    if (this.waitTimer === undefined) return;
    clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.stopWaiting();
    this.detachFlow?.();
    this.subscription?.close();
    this.onEnded(this);
  }
}
