import type { Observable, Subscription } from 'rxjs';
import type { ChatDoneFrame, ChatErrorFrame, ChatStartedFrame, CompletionUsage, ErrorCode, FinishReason } from '../protocol';
import type { UpstreamChunk } from '../upstream/upstream-request';
import { toStreamFailure, type StreamFailure } from './stream-errors';

/** Where a stream's frames go: today the socket that started it (a `ClientConnection`). */
export interface StreamSink {
  sendText(text: string): void;
}

export type StreamOutcome =
  | { kind: 'done'; finishReason: FinishReason; usage: CompletionUsage | null }
  | { kind: 'error'; code: ErrorCode; message: string }
  /** Its socket went away: the upstream was aborted and no terminal frame had anyone to go to. */
  | { kind: 'abandoned' };

export interface ChatStreamInit {
  /** The client's id for this request (unique among the socket's active streams). */
  id: string;
  /** Globally unique; what `stream.resume` will take. */
  streamId: string;
  principal: string;
  model: string;
  now: () => number;
  /** Instance-wide totals; the stream counts its chunks there. */
  totals?: { chunks: number };
  /** `MAX_STREAM_DURATION_MS`: a stream still running after this long ends with `upstream_timeout`; 0 = no cap. */
  maxDurationMs?: number;
}

/**
 * One streamed completion, as an object of its own rather than a callback of its socket: it owns
 * the seq counter, the upstream subscription and the single terminal frame, and sends through a
 * {@link StreamSink}. That leaves room for a stream to outlive its socket (buffer + resume).
 *
 * Invariants (docs/protocol.md "Stream guarantees"): seq starts at 1 with `chat.started` and grows by
 * one per frame; exactly one terminal frame (`chat.done` or `chat.error`); once ended, nothing
 * more is sent and the upstream request is gone.
 *
 * `chat.started` goes out with the first chunk, because only then is the model known: retries and
 * `FALLBACK_MODELS` may have replaced the requested one, and `chat.started.model` names the model
 * actually used. A request that fails before that ends with a `chat.error` without `stream_id` and
 * `seq` (docs/protocol.md: those are present "when started"); one cancelled before that still gets
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

  private seq = 0;
  private finishReason: string | null = null;
  /** The last usage object the upstream sent (OpenAI sends it on the final chunk). */
  usage: CompletionUsage | null = null;
  private subscription: Subscription | undefined;
  /** `{"type":"chat.chunk","id":…,"stream_id":…,"seq":` — built once, so a chunk frame is one concat. */
  private readonly chunkPrefix: string;
  private readonly now: () => number;
  private readonly totals: { chunks: number };
  private readonly maxDurationMs: number;
  private durationTimer: NodeJS.Timeout | undefined;

  constructor(
    init: ChatStreamInit,
    private sink: StreamSink,
    private readonly onEnded: (stream: ChatStream) => void,
  ) {
    this.id = init.id;
    this.streamId = init.streamId;
    this.principal = init.principal;
    this.model = init.model;
    this.now = init.now;
    this.totals = init.totals ?? { chunks: 0 };
    this.maxDurationMs = init.maxDurationMs ?? 0;
    this.startedAt = init.now();
    this.chunkPrefix = `{"type":"chat.chunk","id":${JSON.stringify(init.id)},"stream_id":${JSON.stringify(init.streamId)},"seq":`;
  }

  get active(): boolean {
    return this.outcome === undefined;
  }

  /** Whether `chat.started` has been sent. */
  get started(): boolean {
    return this.seq > 0;
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
    if (!this.started) this.sendStarted();
    this.end({ kind: 'done', finishReason: 'cancelled', usage: null });
  }

  /** Ends the stream with a `chat.error` of the gateway's own (e.g. `shutting_down`). */
  abort(failure: StreamFailure): void {
    if (!this.active) return;
    this.dropUpstream();
    this.fail(failure);
  }

  /** The socket is gone and nobody can receive the rest: stop the upstream (and its billing). */
  abandon(): void {
    if (!this.active) return;
    this.dropUpstream();
    clearTimeout(this.durationTimer);
    this.outcome = { kind: 'abandoned' };
    this.onEnded(this);
  }

  /**
   * One request may not bill forever: past `MAX_STREAM_DURATION_MS` the upstream is dropped and
   * the stream ends with `upstream_timeout`, not retryable (the same request would be cut again).
   */
  private overtime(): void {
    const limit = this.maxDurationMs % 60_000 === 0 ? `${this.maxDurationMs / 60_000} min` : this.maxDurationMs % 1_000 === 0 ? `${this.maxDurationMs / 1_000} s` : `${this.maxDurationMs} ms`;
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
      this.sendStarted();
    }
    // The upstream's JSON text goes out as received: already validated JSON, never re-serialised.
    this.sink.sendText(this.chunkPrefix + ++this.seq + ',"chunk":' + event.raw + '}');
  }

  private sendStarted(): void {
    this.seq = 1;
    const started: ChatStartedFrame = { type: 'chat.started', id: this.id, stream_id: this.streamId, seq: 1, model: this.model };
    this.sink.sendText(JSON.stringify(started));
  }

  private finish(): void {
    // An upstream may end with no chunk at all ([DONE] at once): still a started, finished stream.
    if (!this.started) this.sendStarted();
    this.end({ kind: 'done', finishReason: normalizeFinishReason(this.finishReason), usage: this.usage });
  }

  private fail(failure: StreamFailure): void {
    this.end({ kind: 'error', code: failure.code, message: failure.message }, failure);
  }

  private end(outcome: Exclude<StreamOutcome, { kind: 'abandoned' }>, failure?: StreamFailure): void {
    if (!this.active) return;
    this.outcome = outcome;
    this.subscription = undefined;
    clearTimeout(this.durationTimer);
    let terminal: ChatDoneFrame | ChatErrorFrame;
    if (outcome.kind === 'done') {
      terminal = { type: 'chat.done', id: this.id, stream_id: this.streamId, seq: ++this.seq, finish_reason: outcome.finishReason, usage: outcome.usage };
    } else {
      terminal = { type: 'chat.error', id: this.id, code: outcome.code, message: outcome.message, retryable: failure?.retryable ?? false };
      if (this.started) {
        terminal.stream_id = this.streamId;
        terminal.seq = ++this.seq;
      }
      if (failure?.retryAfterMs !== undefined) terminal.retry_after_ms = failure.retryAfterMs;
    }
    this.sink.sendText(JSON.stringify(terminal));
    this.onEnded(this);
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
