import type { Pausable } from '../backpressure/flow-gate';
import { FramePrefixes, isTerminal, restOf, type RecordFrame } from './record-frame';
import { PRODUCER_DIED } from './stream-errors';
import type { LogReader, LogSubscription } from './stream-log';
import type { StreamAttachment, StreamSocket } from './stream-socket';

/**
 * One socket watching one stream: it sends the stream's frames under the `id` this socket knows
 * it by, each seq once and in order, from the seq it attached at. When the socket is over its
 * send-buffer mark the watcher stops taking frames (it is a {@link Pausable} on the socket's flow
 * gate) and catches up from the log once the socket drains, so a slow socket never holds up the
 * stream or its other watchers.
 */
export class StreamWatcher implements LogReader, Pausable, StreamAttachment {
  /** Built on first use: a socket the log hands every frame ready-encoded needs none. */
  private prefixes: FramePrefixes | undefined;
  private subscription: LogSubscription | undefined;
  private detachFlow: (() => void) | undefined;
  private ended = false;
  /** The seq of the last frame sent to this socket. */
  lastSeq: number;

  constructor(
    private readonly socket: StreamSocket,
    readonly streamId: string,
    /** The `id` this socket knows the stream by. */
    readonly id: string,
    afterSeq: number,
    /** The watcher is done: its terminal frame went out, or it was detached. Once. */
    private readonly onEnded: (watcher: StreamWatcher) => void,
  ) {
    this.lastSeq = afterSeq;
  }

  /** Starts reading through `subscription` (created paused), unless the socket is over its mark. */
  attach(subscription: LogSubscription): void {
    if (this.ended) return subscription.close();
    this.subscription = subscription;
    this.detachFlow = this.socket.flow.attach(this);
    if (!this.socket.flow.isPaused) subscription.resume();
  }

  frame(frame: RecordFrame, wire?: Buffer): void {
    if (this.ended || frame.seq <= this.lastSeq) return;
    this.lastSeq = frame.seq;
    // The log hands the bytes only when they are this socket's frame (see LogReader.id).
    if (wire !== undefined) this.socket.sendWire(wire);
    else this.socket.sendText((this.prefixes ??= new FramePrefixes(this.id)).render(frame));
    if (isTerminal(frame.type)) this.finish();
  }

  lost(reason: 'evicted' | 'log_lost' | 'producer_died'): void {
    if (this.ended) return;
    if (reason === 'producer_died') {
      // One past anything this socket has seen, so a client deduplicating by seq never drops it.
      const seq = this.lastSeq + 1;
      this.frame({ seq, type: 'chat.error', rest: restOf({ stream_id: this.streamId, seq, ...PRODUCER_DIED }) });
      return;
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

  resume(): void {
    this.subscription?.resume();
  }

  /** Stops watching (the socket closed, or the stream was handed to another id). */
  detach(): void {
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.detachFlow?.();
    this.subscription?.close();
    this.onEnded(this);
  }
}
