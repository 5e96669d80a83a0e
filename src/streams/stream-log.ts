import type { StreamState, StreamSummary } from '@holysheep/protocol';
import type { LoggedFrame } from './logged-frame';

/** What is known of a stream besides its frames. */
export interface StreamMeta {
  streamId: string;
  principal: string;
  /** The `id` of the `chat.request` that started it. */
  requestId: string;
  /** The requested model until the first chunk, then the one serving it. */
  model: string;
  /** ms since epoch. */
  startedAt: number;
  /** The instance running its upstream request. */
  owner: string;
  /** W3C trace context of the stream's span, so a resume elsewhere can link to it. */
  traceparent?: string;
}

/** Someone reading a stream's log from some seq on: a socket watching it, or a replicator. */
export interface LogReader {
  /** The next frame, in seq order, each once. */
  frame(frame: LoggedFrame): void;
  /**
   * The log cannot go on for this reader: frames it had not read were dropped (bounds, Redis lost),
   * or its producer died. `frame` is the terminal to hand the client, when there is one to give.
   */
  lost(reason: 'evicted' | 'log_lost' | 'producer_died'): void;
}

/** A reader's hold on a log; also what a socket's backpressure pauses. */
export interface LogSubscription {
  /** Stop delivering; the log keeps what this reader has not read (within its bounds). */
  pause(): void;
  /** Deliver what arrived while paused, then live again. */
  resume(): void;
  close(): void;
  /** The seq of the last frame delivered. */
  readonly position: number;
}

/** A stream's log as a resume sees it. */
export interface LogSnapshot {
  meta: StreamMeta;
  state: StreamState;
  lastSeq: number;
}

/**
 * Where streams' frames are kept so that they outlive their socket (docs/protocol.md "Resume"):
 * in memory on this instance, or in Redis for every replica. Both implementations pass the same
 * spec (`stream-log.contract.ts`).
 */
export interface StreamLog {
  /** The stream as a resume would find it, or undefined: unknown, expired, another principal's, or lost. */
  find(streamId: string, principal: string): Promise<LogSnapshot | undefined>;
  /**
   * Delivers every frame with seq > afterSeq, then each new one as it is logged, until the
   * terminal frame — from the first `resume()` on: a subscription starts paused. Undefined when
   * frames after `afterSeq` are gone (or the stream is unknown).
   */
  follow(streamId: string, afterSeq: number, reader: LogReader): Promise<LogSubscription | undefined>;
  /** The principal's streams that can still be resumed, newest first. */
  list(principal: string): Promise<StreamSummary[]>;
}
