/** What the rest of the gateway holds of a stream's tracing: its span, its upstream attempts. */
/** Attributes of a stream span, the same facts as the stream's log line. */
export interface StreamSpanAttributes {
  /** The client's request id from `chat.request`. */
  id: string;
  /** The gateway-assigned stream id. */
  streamId: string;
  /** The authenticated principal (recorded as `enduser.id`): a name, never a credential. */
  principal: string;
  /** The model the client asked for. */
  model: string;
}

/** How a stream ended; exactly one of `finishReason`, `errorCode` and `abandoned` is expected. */
export interface StreamSpanOutcome {
  /** When it ended with `chat.done`. */
  finishReason?: string;
  /** When it ended with `chat.error`; the span's status becomes ERROR. */
  errorCode?: string;
  /** The client went away. Not an error of the gateway's: status stays unset. */
  abandoned?: boolean;
  /** Content chunks relayed to the client. */
  chunks: number;
  /** Milliseconds from the start of the stream to its first chunk, when there was one. */
  timeToFirstChunkMs?: number;
  /** Token usage as reported by the upstream, when it reported any. */
  usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number } | null;
  /** The model actually used (may differ from the requested one after a fallback). */
  model?: string;
}

/** One try at the upstream call (first attempt, a retry, or a fallback model). */
export interface UpstreamAttempt {
  /**
   * W3C traceparent to send upstream for this attempt (the child span's context); undefined when
   * there is nothing to propagate.
   */
  readonly traceparent: string | undefined;
  /**
   * Ends the attempt. `status` is the upstream HTTP status when a response arrived; `error` a short
   * description of a failure (it is truncated and scrubbed of secrets, but pass no message
   * contents). Idempotent: only the first call counts.
   */
  end(result: { status?: number; error?: string }): void;
}

/** The tracing handle of one stream. */
export interface StreamSpan {
  /** The stream span's own W3C context (kept with the stream, so a resume elsewhere can link to it). */
  readonly traceparent: string | undefined;
  /**
   * Starts the span of one upstream attempt, a child of the stream span.
   * @param model the model this attempt asks for
   * @param attempt 1-based try counter across retries and fallbacks
   */
  startUpstreamAttempt(model: string, attempt: number): UpstreamAttempt;
  /**
   * Records the outcome and ends the stream span (and an attempt left open). Idempotent: only the
   * first call counts.
   */
  end(outcome: StreamSpanOutcome): void;
}

export function noop(): void {}

/** Disabled and nothing to propagate: one shared object, no allocation per stream. */
export const NOOP_ATTEMPT: UpstreamAttempt = Object.freeze({ traceparent: undefined, end: noop });
export const NOOP_STREAM_SPAN: StreamSpan = Object.freeze({ traceparent: undefined, startUpstreamAttempt: () => NOOP_ATTEMPT, end: noop });

/** Disabled, but the client sent a trace context: hand it to every attempt unchanged. */
export function passThroughSpan(traceparent: string): StreamSpan {
  const attempt: UpstreamAttempt = Object.freeze({ traceparent, end: noop });
  return { traceparent: undefined, startUpstreamAttempt: () => attempt, end: noop };
}
