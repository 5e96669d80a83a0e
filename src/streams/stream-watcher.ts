import type { Pausable } from '../backpressure/flow-gate';
import type { ClientConnection } from '../connections/client-connection';
import { FramePrefixes, isTerminal, restOf, type LoggedFrame } from './logged-frame';
import type { LogReader, LogSubscription } from './stream-log';

/** The terminal a socket gets when the producer of the stream it watches died mid-way. */
export const PRODUCER_DIED = {
  code: 'upstream_disconnected',
  message: 'The gateway instance producing this answer stopped before it finished; send the request again',
  retryable: true,
} as const;

/**
 * One socket watching one stream: it renders the stream's frames with the `id` this socket knows
 * it by and sends them, each seq once and in order, from the seq it attached at. When the socket
 * is over its send-buffer mark the watcher stops taking frames (it is a {@link Pausable} on the
 * connection's flow gate) and catches up from the log once the socket drains, so a slow socket
 * never holds up the stream or its other watchers.
 */
export class StreamWatcher implements LogReader, Pausable {
  /** Built on first use: the socket that requested the stream writes the logged `wire` bytes and needs none. */
  private prefixes: FramePrefixes | undefined;
  private subscription: LogSubscription | undefined;
  private detachFlow: (() => void) | undefined;
  private ended = false;
  /** The seq of the last frame sent to this socket. */
  lastSeq: number;

  constructor(
    private readonly connection: ClientConnection,
    readonly streamId: string,
    /** The `id` this socket knows the stream by. */
    readonly id: string,
    afterSeq: number,
    /** Whether `id` is the one the stream was requested with: then a frame's logged `wire` is this socket's frame. */
    private readonly requestedId: boolean,
    /** The watcher is done: its terminal frame went out, or it was detached. Once. */
    private readonly onEnded: (watcher: StreamWatcher) => void,
  ) {
    this.lastSeq = afterSeq;
  }

  /** Starts reading through `subscription` (created paused), unless the socket is over its mark. */
  attach(subscription: LogSubscription): void {
    if (this.ended) return subscription.close();
    this.subscription = subscription;
    this.detachFlow = this.connection.flow.attach(this);
    if (!this.connection.flow.isPaused) subscription.resume();
  }

  frame(frame: LoggedFrame): void {
    if (this.ended || frame.seq <= this.lastSeq) return;
    this.lastSeq = frame.seq;
    if (this.requestedId && frame.wire !== undefined) this.connection.sendWire(frame.wire);
    else this.connection.sendText((this.prefixes ??= new FramePrefixes(this.id)).render(frame));
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
    this.connection.send({
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
