/**
 * OpenTelemetry tracing for streams: one `chat.stream` span per stream, one `chat.upstream` child
 * span per upstream attempt, and the W3C `traceparent` to send upstream for each attempt.
 *
 * Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Even when off, a client's own `traceparent`
 * (from `chat.request`) is still passed through to the upstream, so the client's trace continues
 * past the gateway without the gateway exporting anything itself.
 */
import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { ROOT_CONTEXT, SpanKind, trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { raceTimeout } from '../async/race-timeout';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { RecordingStreamSpan } from './recording-stream-span';
import { ATTR_ENDUSER_ID, ATTR_GEN_AI_REQUEST_MODEL, GATEWAY_ATTRIBUTES, RESUME_SPAN_NAME, STREAM_SPAN_NAME } from './span-attributes';
import { NOOP_STREAM_SPAN, noop, passThroughSpan, type StreamSpan, type StreamSpanAttributes } from './stream-span';
import { isValidTraceparent, parseTraceparent, toVersion00 } from './trace-context';

export type { StreamSpan, StreamSpanAttributes, StreamSpanOutcome, UpstreamAttempt } from './stream-span';
export { isValidTraceparent } from './trace-context';

/** Upper bound on flushing spans at shutdown: a dead collector must not hold up the drain. */
const SHUTDOWN_TIMEOUT_MS = 2_000;

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
