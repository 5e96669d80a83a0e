/**
 * OpenTelemetry tracing for streams: one `chat.stream` span per stream, one `chat.upstream` child
 * span per upstream attempt, and the W3C `traceparent` to send upstream for each attempt.
 *
 * Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Even when off, a client's own `traceparent`
 * (from `chat.request`) is still passed through to the upstream, so the client's trace continues
 * past the gateway without the gateway exporting anything itself.
 */
import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import {
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type Tracer,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_ERROR_TYPE, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { raceTimeout } from '../common/race-timeout';
import { redactSecrets } from '../common/redact';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';

// GenAI / enduser semantic-convention keys. Copied rather than imported: in
// @opentelemetry/semantic-conventions they exist only in the `incubating` entry point, which that
// package asks applications not to depend on (it may break in any minor release; as of 1.45 these
// keys are even marked as moved to a separate GenAI conventions repository), and which TypeScript's
// CommonJS (node10) module resolution in this project cannot see anyway.
const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
const ATTR_GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
const ATTR_GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model';
const ATTR_GEN_AI_RESPONSE_FINISH_REASONS = 'gen_ai.response.finish_reasons';
const ATTR_GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
const ATTR_ENDUSER_ID = 'enduser.id';

/** Gateway-specific attributes: no convention exists for these. */
const GATEWAY_ATTRIBUTES = {
  requestId: 'gateway.request_id',
  streamId: 'gateway.stream_id',
  chunks: 'gateway.chunks',
  ttfcMs: 'gateway.ttfc_ms',
  errorCode: 'gateway.error_code',
  abandoned: 'gateway.abandoned',
  afterSeq: 'gateway.resume.after_seq',
  resumeResult: 'gateway.resume.result',
  attempt: 'gateway.attempt',
} as const;

/** Span names; stable so dashboards and tests can rely on them. */
const STREAM_SPAN_NAME = 'chat.stream';
const UPSTREAM_SPAN_NAME = 'chat.upstream';
const RESUME_SPAN_NAME = 'chat.resume';

/** Upper bound on flushing spans at shutdown: a dead collector must not hold up the drain. */
const SHUTDOWN_TIMEOUT_MS = 2_000;
/** Upstream error texts are free-form (they can echo an upstream response body): kept short. */
const MAX_ERROR_TEXT_LENGTH = 256;
/**
 * Accepted length of a client `traceparent`. Version 00 is exactly 55 characters; a future version
 * may append fields (W3C trace-context §3.2.4), but nothing legitimate comes close to this, and a
 * client-supplied value has no business being large.
 */
const MAX_TRACEPARENT_LENGTH = 256;

/**
 * W3C trace-context §3.2.2: `version "-" trace-id "-" parent-id "-" trace-flags`, lowercase hex
 * only. Version `ff` and all-zero ids are invalid. A higher version may carry more after a `-`
 * (§3.2.4: parse it as version 00, ignore the rest); that version 00 may not is checked separately.
 */
const TRACEPARENT = /^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}(?:-.*)?$/s;

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

/**
 * Whether `value` is a well-formed W3C `traceparent` (trace-context §3.2): lowercase hex, version
 * not `ff`, trace id and parent id not all zeros, nothing after the flags for version 00. A client
 * value that fails this is ignored, as the spec requires of a malformed header.
 */
export function isValidTraceparent(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > MAX_TRACEPARENT_LENGTH || !TRACEPARENT.test(value)) return false;
  return value.length === 55 || !value.startsWith('00-');
}

/** Parses a traceparent already known to be valid into a remote parent span context. */
function parseTraceparent(value: string): SpanContext {
  // Fixed offsets (§3.2.2): "vv-<32 hex>-<16 hex>-ff".
  return { traceId: value.slice(3, 35), spanId: value.slice(36, 52), traceFlags: parseInt(value.slice(53, 55), 16), isRemote: true };
}

/**
 * The version-00 form of a valid traceparent. For version 00 that is the value itself; a higher
 * version is cut to its version-00 fields, which is how a version-00 implementation must read it
 * (§3.2.4), and it must not claim a version it does not implement when sending it on.
 */
function toVersion00(value: string): string {
  return value.startsWith('00-') ? value : `00-${value.slice(3, 55)}`;
}

/** The traceparent of a span context: what `W3CTraceContextPropagator.inject` writes, without a carrier. */
function formatTraceparent(context: SpanContext): string | undefined {
  if (!trace.isSpanContextValid(context)) return undefined;
  return `00-${context.traceId}-${context.spanId}-${(context.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

function noop(): void {}

/** Disabled and nothing to propagate: one shared object, no allocation per stream. */
const NOOP_ATTEMPT: UpstreamAttempt = Object.freeze({ traceparent: undefined, end: noop });
const NOOP_STREAM_SPAN: StreamSpan = Object.freeze({ traceparent: undefined, startUpstreamAttempt: () => NOOP_ATTEMPT, end: noop });

/** Disabled, but the client sent a trace context: hand it to every attempt unchanged. */
function passThroughSpan(traceparent: string): StreamSpan {
  const attempt: UpstreamAttempt = Object.freeze({ traceparent, end: noop });
  return { traceparent: undefined, startUpstreamAttempt: () => attempt, end: noop };
}

class RecordingUpstreamAttempt implements UpstreamAttempt {
  readonly traceparent: string | undefined;
  ended = false;

  constructor(
    private readonly span: Span,
    private readonly secrets: ReadonlyArray<string | undefined>,
  ) {
    this.traceparent = formatTraceparent(span.spanContext());
  }

  end(result: { status?: number; error?: string }): void {
    if (this.ended) return;
    this.ended = true;
    const { status, error } = result;
    if (typeof status === 'number' && Number.isInteger(status)) this.span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    // HTTP client semantic conventions: a 4xx/5xx response is an error of the call even when the
    // caller passes no text for it.
    const failedStatus = typeof status === 'number' && status >= 400;
    if (error !== undefined || failedStatus) {
      // error.type must be low-cardinality: the status code when there is one, else the catch-all.
      this.span.setAttribute(ATTR_ERROR_TYPE, failedStatus ? String(status) : '_OTHER');
      const text = error !== undefined ? redactSecrets(error, ...this.secrets).slice(0, MAX_ERROR_TEXT_LENGTH) : `HTTP ${status}`;
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: text });
    }
    this.span.end();
  }
}

class RecordingStreamSpan implements StreamSpan {
  readonly traceparent: string | undefined;
  private ended = false;
  /** The context upstream spans are parented on; built on the first attempt only. */
  private childContext: Context | undefined;
  /** Attempts run one after another, so only the latest can still be open when the stream ends. */
  private lastAttempt: RecordingUpstreamAttempt | undefined;

  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
    private readonly secrets: ReadonlyArray<string | undefined>,
  ) {
    this.traceparent = formatTraceparent(span.spanContext());
  }

  startUpstreamAttempt(model: string, attempt: number): UpstreamAttempt {
    this.childContext ??= trace.setSpan(ROOT_CONTEXT, this.span);
    const span = this.tracer.startSpan(
      UPSTREAM_SPAN_NAME,
      {
        // CLIENT: an outgoing HTTP call to another service; this is also the kind the GenAI
        // conventions give a call to a remote model.
        kind: SpanKind.CLIENT,
        attributes: { [ATTR_GEN_AI_OPERATION_NAME]: 'chat', [ATTR_GEN_AI_REQUEST_MODEL]: model, [GATEWAY_ATTRIBUTES.attempt]: attempt },
      },
      this.childContext,
    );
    this.lastAttempt = new RecordingUpstreamAttempt(span, this.secrets);
    return this.lastAttempt;
  }

  end(outcome: StreamSpanOutcome): void {
    if (this.ended) return;
    this.ended = true;
    // An unended span is never exported: close an attempt the caller left open (the stream is over,
    // so that call is too) rather than lose it.
    if (this.lastAttempt && !this.lastAttempt.ended) this.lastAttempt.end({});
    const attributes: Attributes = { [GATEWAY_ATTRIBUTES.chunks]: outcome.chunks };
    if (outcome.timeToFirstChunkMs !== undefined) attributes[GATEWAY_ATTRIBUTES.ttfcMs] = outcome.timeToFirstChunkMs;
    if (outcome.model !== undefined) attributes[ATTR_GEN_AI_RESPONSE_MODEL] = outcome.model;
    if (outcome.finishReason !== undefined) attributes[ATTR_GEN_AI_RESPONSE_FINISH_REASONS] = [outcome.finishReason];
    // Usage comes from the upstream's JSON: recorded only when it really is a count.
    const usage = outcome.usage;
    if (usage && isCount(usage.prompt_tokens)) attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS] = usage.prompt_tokens;
    if (usage && isCount(usage.completion_tokens)) attributes[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS] = usage.completion_tokens;
    if (outcome.abandoned) attributes[GATEWAY_ATTRIBUTES.abandoned] = true;
    if (outcome.errorCode !== undefined) {
      attributes[GATEWAY_ATTRIBUTES.errorCode] = outcome.errorCode;
      attributes[ATTR_ERROR_TYPE] = outcome.errorCode;
      // The code only: a chat.error message can quote the upstream's response.
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.errorCode });
    }
    this.span.setAttributes(attributes);
    this.span.end();
  }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/**
 * The endpoint for traces per the OTLP exporter spec: the generic `OTEL_EXPORTER_OTLP_ENDPOINT` is
 * a base URL to which `v1/traces` is appended (unlike the signal-specific variable, used as is).
 * @returns undefined when the value is not an absolute http(s) URL
 */
export function tracesUrl(endpoint: string): string | undefined {
  let url: URL;
  try {
    url = new URL(`${endpoint.replace(/\/+$/, '')}/v1/traces`);
  } catch {
    return undefined;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
}

/**
 * Creates stream spans. With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are batched and exported over
 * OTLP/HTTP (JSON); the exporter itself still honours the other standard variables
 * (`OTEL_EXPORTER_OTLP_HEADERS`, `_TIMEOUT`, `_COMPRESSION`, certificates), and the provider
 * `OTEL_TRACES_SAMPLER` / `OTEL_BSP_*` / `OTEL_RESOURCE_ATTRIBUTES`.
 *
 * The tracer provider is this service's own and is never registered globally, nor is a global
 * propagator or context manager set: several app instances can live in one process (tests), and
 * every parent is passed explicitly, so nothing here depends on ambient context.
 */
@Injectable()
export class TracingService implements OnApplicationShutdown {
  private readonly logger = new Logger(TracingService.name);
  /** Whether spans are recorded and exported (an OTLP endpoint is configured and valid). */
  readonly enabled: boolean;
  private readonly provider: BasicTracerProvider | undefined;
  private readonly tracer: Tracer | undefined;
  /** Values scrubbed from error texts before they reach a span. */
  private readonly secrets: ReadonlyArray<string | undefined>;
  private shutdown: Promise<void> | undefined;

  constructor(@InjectConfig() gateway: GatewayConfig) {
    const { endpoint, serviceName } = gateway.tracing;
    this.secrets = [gateway.upstream.apiKey];
    const url = endpoint === undefined ? undefined : tracesUrl(endpoint);
    if (endpoint !== undefined && url === undefined) {
      // Tracing is an aid, not a reason to refuse to start: say so loudly and carry on without it.
      this.logger.error('OTEL_EXPORTER_OTLP_ENDPOINT is not an absolute http(s) URL: tracing is disabled');
    }
    if (url === undefined) {
      this.enabled = false;
      return;
    }
    const resource = defaultResource()
      .merge(detectResources({ detectors: [envDetector] }))
      .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }));
    this.provider = new BasicTracerProvider({
      resource,
      // Batching keeps the export off the streaming path: ending a span only queues it.
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))],
    });
    this.tracer = this.provider.getTracer('holysheep-stream-gateway');
    this.enabled = true;
    const shown = new URL(url);
    this.logger.log(`OpenTelemetry tracing on: exporting to ${shown.origin}${shown.pathname}`);
  }

  /**
   * Starts the span of one stream.
   * @param attributes what identifies the stream (no message contents, no credentials)
   * @param clientTraceparent an optional W3C traceparent from the client's `chat.request`; the
   *   stream joins that trace when it is valid, and a malformed one is ignored
   */
  startStream(attributes: StreamSpanAttributes, clientTraceparent?: string): StreamSpan {
    const parent = isValidTraceparent(clientTraceparent) ? clientTraceparent : undefined;
    if (!this.tracer) return parent === undefined ? NOOP_STREAM_SPAN : passThroughSpan(toVersion00(parent));
    const context = parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parseTraceparent(parent));
    const span = this.tracer.startSpan(
      STREAM_SPAN_NAME,
      {
        // SERVER rather than INTERNAL: this span is the gateway's handling of a remote client's
        // request (a server-streaming call over the WebSocket) and the child of that client's span
        // when it sent a traceparent, which is what SERVER means; backends also pair CLIENT→SERVER
        // spans to draw service graphs. INTERNAL would hide the service boundary.
        kind: SpanKind.SERVER,
        attributes: {
          [GATEWAY_ATTRIBUTES.requestId]: attributes.id,
          [GATEWAY_ATTRIBUTES.streamId]: attributes.streamId,
          [ATTR_ENDUSER_ID]: attributes.principal,
          [ATTR_GEN_AI_REQUEST_MODEL]: attributes.model,
        },
      },
      context,
    );
    return new RecordingStreamSpan(this.tracer, span, this.secrets);
  }

  /**
   * Starts the span of one `stream.resume`: a trace of its own (the resume is a new request, maybe
   * on another instance), linked to the stream's span when its context is known.
   * @returns the function that ends it, with how it went
   */
  startResume(attributes: { streamId: string; principal: string; afterSeq: number }, streamTraceparent: string | undefined): (result: 'resumed' | 'not_found') => void {
    if (!this.tracer) return noop;
    const links = isValidTraceparent(streamTraceparent) ? [{ context: parseTraceparent(streamTraceparent) }] : [];
    const span = this.tracer.startSpan(RESUME_SPAN_NAME, {
      kind: SpanKind.SERVER,
      links,
      attributes: { [GATEWAY_ATTRIBUTES.streamId]: attributes.streamId, [ATTR_ENDUSER_ID]: attributes.principal, [GATEWAY_ATTRIBUTES.afterSeq]: attributes.afterSeq },
    });
    return (result) => {
      span.setAttribute(GATEWAY_ATTRIBUTES.resumeResult, result);
      span.end();
    };
  }

  /**
   * Exports what is still queued and shuts the provider down, giving up after two seconds so an
   * unreachable collector cannot stall the drain. Never throws; safe to call more than once.
   */
  onApplicationShutdown(): Promise<void> {
    const provider = this.provider;
    if (!provider) return Promise.resolve();
    this.shutdown ??= this.flushAndShutdown(provider);
    return this.shutdown;
  }

  private async flushAndShutdown(provider: BasicTracerProvider): Promise<void> {
    let failure: string | undefined;
    const done = provider.shutdown().catch((error: unknown) => {
      failure = error instanceof Error ? error.message : String(error);
    });
    // The deadline must not itself keep a finished process alive.
    if (!(await raceTimeout(done, SHUTDOWN_TIMEOUT_MS, { unref: true }))) {
      this.logger.warn(`Trace export did not finish within ${SHUTDOWN_TIMEOUT_MS} ms at shutdown; remaining spans are dropped`);
    } else if (failure !== undefined) {
      // Only a failure before the deadline is reported: one after it is not news.
      this.logger.warn(`Trace export failed at shutdown: ${failure}`);
    }
  }
}
