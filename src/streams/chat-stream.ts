import type { Observable, Subscription } from 'rxjs';
import { FlowGate } from '../backpressure/flow-gate';
import type { CompletionUsage, ErrorCode, FinishReason } from '@holysheep/protocol';
import type { UpstreamChunk } from '../upstream/upstream-request';
import { compactTextOf } from './compact-delta';
import { restOf, type RecordFrame } from './record-frame';
import { toStreamFailure, type StreamFailure } from './stream-errors';
import type { StreamRecord } from './stream-record';

export type StreamOutcome =
  | { kind: 'done'; finishReason: FinishReason; usage: CompletionUsage | null }
  | { kind: 'error'; code: ErrorCode; message: string }
  /** Nobody was attached to receive it when its grace ran out: the upstream was aborted. */
  | { kind: 'abandoned' };

export interface ChatStreamInit {
  /** The client's id for this request (unique among the socket's active streams). */
  id: string;
  /** Globally unique; what `stream.resume` takes. */
  streamId: string;
  principal: string;
  model: string;
  now: () => number;
  /** Instance-wide totals; the stream counts its chunks there. */
  totals?: { chunks: number };
  /** `MAX_STREAM_DURATION_MS`: a stream still running after this long ends with `upstream_timeout`; 0 = no cap. */
  maxDurationMs?: number;
  /**
   * The requesting socket asked for `format: "text"`: each chunk's frame carries its content delta
   * (`RecordFrame.text`), so that socket's compact frames need no parse. Off, the default path
   * does no more per chunk than before (other `text` readers parse the frame's `rest`).
   */
  compact?: boolean;
}

/** The terminal frame of a stream nobody was attached to when its grace ran out. */
const ABANDONED: StreamFailure = {
  code: 'upstream_disconnected',
  message: 'No client was connected to receive this answer, so it was stopped before the end; send the request again',
  retryable: true,
};

/**
 * One streamed completion, produced on this instance: it owns the seq counter, the upstream
 * subscription and the single terminal frame, and writes every frame to its {@link StreamRecord}.
 * It knows nothing of sockets: sockets (one, several, or none for a while) read the record, each
 * at its own pace (`stream-watcher.ts`); the record pauses this stream's upstream body (`flow`)
 * only when it is full of frames some reader has not read.
 *
 * Invariants (docs/protocol.md "Stream guarantees"): seq starts at 1 with `chat.started` and grows
 * by one per frame; exactly one terminal frame; once ended, nothing more is written and the
 * upstream request is gone.
 *
 * `chat.started` goes out with the first chunk, because only then is the model known: retries and
 * `FALLBACK_MODELS` may have replaced the requested one. A request that fails before that ends with
 * a `chat.error` without `stream_id` and `seq`; one cancelled before that still gets
 * `chat.started` + `chat.done` so a cancel is always answered the same way.
 */
export class ChatStream {
  readonly id: string;
  readonly streamId: string;
  readonly principal: string;
  /** The requested model until the first chunk, then the one actually used. */
  model: string;
  readonly startedAt: number;
  firstChunkAt: number | undefined;
  chunks = 0;
  outcome: StreamOutcome | undefined;
  /** The last usage object the upstream sent (OpenAI sends it on the final chunk). */
  usage: CompletionUsage | null = null;
  /** Closed while the record is full of unread frames: the upstream body is not read. */
  readonly flow = new FlowGate();

  private seq = 0;
  private finishReason: string | null = null;
  private subscription: Subscription | undefined;
  /** `,"stream_id":…,"seq":` — built once, so a chunk frame is one concatenation. */
  private readonly seqPrefix: string;
  private readonly now: () => number;
  private readonly totals: { chunks: number };
  private readonly maxDurationMs: number;
  private readonly compact: boolean;
  private durationTimer: NodeJS.Timeout | undefined;

  constructor(
    init: ChatStreamInit,
    private readonly record: StreamRecord,
    private readonly onEnded: (stream: ChatStream) => void,
  ) {
    this.id = init.id;
    this.streamId = init.streamId;
    this.principal = init.principal;
    this.model = init.model;
    this.now = init.now;
    this.totals = init.totals ?? { chunks: 0 };
    this.maxDurationMs = init.maxDurationMs ?? 0;
    this.compact = init.compact === true;
    this.startedAt = init.now();
    this.seqPrefix = `,"stream_id":${JSON.stringify(init.streamId)},"seq":`;
  }

  get active(): boolean {
    return this.outcome === undefined;
  }

  /** Whether `chat.started` has been written. */
  get started(): boolean {
    return this.seq > 0;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** Subscribes to the upstream; `chat.started` follows with the first chunk. */
  start(upstream: Observable<UpstreamChunk>): void {
    const subscription = upstream.subscribe({
      next: (event) => this.relay(event),
      error: (error: unknown) => this.fail(toStreamFailure(error)),
      complete: () => this.finish(),
    });
    // The upstream may have ended synchronously inside subscribe().
    if (!this.active) return;
    this.subscription = subscription;
    if (this.maxDurationMs > 0) this.durationTimer = setTimeout(() => this.overtime(), this.maxDurationMs);
  }

  /** `chat.cancel`: abort the upstream now, end with `finish_reason: "cancelled"`. */
  cancel(): void {
    if (!this.active) return;
    this.dropUpstream();
    if (!this.started) this.writeStarted();
    this.end({ kind: 'done', finishReason: 'cancelled', usage: null });
  }

  /** Ends the stream with a `chat.error` of the gateway's own (e.g. `shutting_down`). */
  abort(failure: StreamFailure): void {
    if (!this.active) return;
    this.dropUpstream();
    this.fail(failure);
  }

  /**
   * Nobody is attached and the resume grace is over: stop the upstream (and its billing). The log
   * still gets its one terminal frame, for a client that resumes later within retention.
   */
  abandon(): void {
    if (!this.active) return;
    this.dropUpstream();
    this.end({ kind: 'abandoned' }, ABANDONED);
  }

  /** Nobody will resume it here (a drain hands it to other replicas): its record need not keep frames for a client. */
  stopKeeping(): void {
    this.record.stopKeeping();
  }

  /**
   * One request may not bill forever: past `MAX_STREAM_DURATION_MS` the upstream is dropped and
   * the stream ends with `upstream_timeout`, not retryable (the same request would be cut again).
   */
  private overtime(): void {
    const ms = this.maxDurationMs;
    const limit = ms % 60_000 === 0 ? `${ms / 60_000} min` : ms % 1_000 === 0 ? `${ms / 1_000} s` : `${ms} ms`;
    this.abort({ code: 'upstream_timeout', message: `The answer ran longer than this gateway's limit of ${limit} and was cut`, retryable: false });
  }

  private relay(event: UpstreamChunk): void {
    if (!this.active) return;
    const chunk = event.chunk;
    if (event.finishReason !== null) this.finishReason = event.finishReason;
    // chat.done.usage must be an object or null, whatever an upstream puts there.
    const usage = chunk.usage;
    if (usage !== null && typeof usage === 'object' && !Array.isArray(usage)) this.usage = usage;
    this.totals.chunks++;
    if (this.chunks++ === 0) {
      this.firstChunkAt = this.now();
      this.model = event.model;
      this.record.setModel(event.model);
      this.writeStarted();
    }
    const seq = ++this.seq;
    // The upstream's JSON text goes out as received: already validated JSON, never re-serialised.
    const rest = this.seqPrefix + seq + ',"chunk":' + event.raw + '}';
    this.record.append(this.compact ? { seq, type: 'chat.chunk', rest, text: compactTextOf(chunk) } : { seq, type: 'chat.chunk', rest });
  }

  private writeStarted(): void {
    this.seq = 1;
    this.record.append({ seq: 1, type: 'chat.started', rest: restOf({ stream_id: this.streamId, seq: 1, model: this.model }) });
  }

  private finish(): void {
    // An upstream may end with no chunk at all ([DONE] at once): still a started, finished stream.
    if (!this.started) this.writeStarted();
    this.end({ kind: 'done', finishReason: normalizeFinishReason(this.finishReason), usage: this.usage });
  }

  private fail(failure: StreamFailure): void {
    this.end({ kind: 'error', code: failure.code, message: failure.message }, failure);
  }

  private end(outcome: StreamOutcome, failure?: StreamFailure): void {
    if (!this.active) return;
    this.outcome = outcome;
    this.subscription = undefined;
    clearTimeout(this.durationTimer);
    this.record.append(this.terminal(outcome, failure), this.now());
    this.onEnded(this);
  }

  private terminal(outcome: StreamOutcome, failure?: StreamFailure): RecordFrame {
    if (outcome.kind === 'done') {
      const seq = ++this.seq;
      return { seq, type: 'chat.done', rest: restOf({ stream_id: this.streamId, seq, finish_reason: outcome.finishReason, usage: outcome.usage }) };
    }
    const error: Record<string, unknown> = { code: failure!.code, message: failure!.message, retryable: failure!.retryable };
    if (failure!.retryAfterMs !== undefined) error.retry_after_ms = failure!.retryAfterMs;
    // Never started: no stream_id and no seq on the wire (it is seq 1 in the log).
    if (!this.started) return { seq: ++this.seq, type: 'chat.error', rest: restOf(error) };
    const seq = ++this.seq;
    return { seq, type: 'chat.error', rest: restOf({ stream_id: this.streamId, seq, ...error }) };
  }

  private dropUpstream(): void {
    const subscription = this.subscription;
    this.subscription = undefined;
    subscription?.unsubscribe();
  }
}

/**
 * The protocol allows five finish reasons. OpenAI's legacy `function_call` is a tool call; a
 * vendor-specific value (or none, when the upstream sent `[DONE]` without one) means the model
 * stopped on its own, which is `stop`.
 */
export function normalizeFinishReason(reason: string | null): Exclude<FinishReason, 'cancelled'> {
  switch (reason) {
    case 'length':
    case 'tool_calls':
    case 'content_filter':
      return reason;
    case 'function_call':
      return 'tool_calls';
    default:
      return 'stop';
  }
}
