import type { Pausable } from '../backpressure/flow-gate';
import type { StreamState, StreamSummary } from '@holysheep/protocol';
import type { RecordFrame } from './record-frame';
import type { StreamRecord } from './stream-record';

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
  /** The instance running its upstream request (the log names it: see {@link StreamLog.open}). */
  owner: string;
  /** W3C trace context of the stream's span, so a resume elsewhere can link to it. */
  traceparent?: string;
}

/** A stream's meta as its producer knows it when it opens the log: the log names the owner. */
export type NewStreamMeta = Omit<StreamMeta, 'owner'>;

/** What the log may ask of the producer of a stream opened on it (a `ChatStream` upstream). */
export interface StreamProducer extends Pausable {
  /** `chat.cancel` reached the stream's log, from a socket here or on another replica. */
  cancel(): void;
  /** The log takes no more of this stream: another instance ended it while this one was cut off. */
  fenced(): void;
  /**
   * The log is over its total and this stream, running with nobody reading it, keeps frames its
   * client may lack: end it now, with its terminal frame, rather than drop frames while it runs on.
   */
  outOfRoom?(): void;
}

/**
 * Why a reader stops getting frames: `evicted` (what it asked for is gone), `log_lost` (the log
 * could not be read while following), `producer_died`, `overtaken` (the stream moved past a slow reader, `keptFrom`
 * is what is still kept), `log_gap` (a hole met while following: part of the log is gone behind
 * frames it already has).
 */
export type LostReason = 'evicted' | 'log_lost' | 'producer_died' | 'overtaken' | 'log_gap';

/** Someone reading a stream's log from some seq on: a socket watching it, or a test. */
export interface LogReader {
  /**
   * The `id` this reader knows the stream by. When it is the one the stream was requested with,
   * the log hands it each frame it holds encoded as a WebSocket text frame under that id too.
   */
  readonly id: string;
  /**
   * The next frame, in seq order, each once; `wire` is that frame whole as this reader sends it
   * (header and JSON), when the log holds it so: written as it is, never changed. `live`: the frame
   * was just appended and this reader was keeping up, so it came with the producer's own read (at
   * most one upstream read's worth of frames per event-loop turn), not from a catch-up or replay.
   */
  frame(frame: RecordFrame, wire?: Buffer, live?: boolean): void;
  /**
   * The log cannot go on for this reader: frames it had not read were dropped (bounds, Redis lost),
   * its producer died, or it was `overtaken`: it fell behind the per-stream bound while another
   * reader kept up, so it was cut loose (`keptFrom`: the oldest seq still held then).
   */
  lost(reason: LostReason, keptFrom?: number): void;
  /** Whether this reader is not reading now (its socket is over its mark): only such a reader is ever overtaken. */
  readonly behind?: boolean;
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

/** What {@link StreamLog.list} found. */
export interface StreamListing {
  /** Newest first. */
  streams: StreamSummary[];
  /** Set when streams kept elsewhere could not be read in time: `streams` are this instance's only. */
  partial?: true;
}

/**
 * Where streams' frames are kept so that they outlive their socket (docs/protocol.md "Resume"):
 * writes (`open` a stream, then append to its {@link StreamRecord}) and reads (`find`, `follow`,
 * `list`). In memory on this instance ({@link MemoryStreamLog}), or replicated to Redis for every
 * replica (`redis/replicated-stream-log.ts`); the stream manager never knows which. Both pass the
 * same spec (`stream-log.contract.ts`).
 */
export interface StreamLog {
  /**
   * Starts the log of a stream produced here. Its producer appends to the returned record; the
   * log pauses it while the record is full of frames a reader has not read, and tells it of a
   * cancel or of being fenced.
   */
  open(meta: NewStreamMeta, producer: StreamProducer): StreamRecord;
  /** The stream as a resume would find it, or undefined: unknown, expired, another principal's, or lost. */
  find(streamId: string, principal: string): Promise<LogSnapshot | undefined>;
  /**
   * Delivers every frame with seq > afterSeq, then each new one as it is logged, until the
   * terminal frame — from the first `resume()` on: a subscription starts paused. Undefined when
   * frames after `afterSeq` are gone (or the stream is unknown).
   */
  follow(streamId: string, afterSeq: number, reader: LogReader): Promise<LogSubscription | undefined>;
  /**
   * The principal's streams that can still be resumed, newest first. Answers in bounded time: a
   * log that could not read all of them in time (Redis away or slow) lists what it has, `partial`.
   */
  list(principal: string): Promise<StreamListing>;
  /** `chat.cancel` of a stream: its producer is told, here or on the replica running it. Unknown ids are a no-op. */
  cancel(streamId: string): void;
  /**
   * A shared log only: a stream produced here whose resume grace ran out with no socket here
   * watching it. Resolves true once nobody has watched it on any replica for `graceMs` as far as
   * the log can tell (never while it cannot), false once that no longer needs deciding (it ended,
   * or a socket here watches it again). Without it, the grace here is the only one.
   */
  unwatched?(streamId: string, graceMs: number): Promise<boolean>;
  /**
   * A shared log only: the last socket here watching a stream produced here left. The stream
   * keeps its frames for that client and pauses at its bound (docs/protocol.md, Resume); once a
   * socket on another replica watches it, that socket reads the log from Redis, so the frames are
   * released here and the stream runs on instead of waiting for a resume that came elsewhere.
   */
  detached?(streamId: string): void;
  /** Whether other replicas can read this instance's streams now (a drain may leave them running). */
  readonly shared: boolean;
  /** End of a drain: writes what other replicas still lack, and gives up this instance's claim on its streams. */
  release(): Promise<void>;
  close(): void;
}

/** The Nest token of the instance's {@link StreamLog} (chosen by configuration in `StreamsModule`). */
export const STREAM_LOG = Symbol('StreamLog');
