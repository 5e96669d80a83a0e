import { Logger } from '@nestjs/common';
import { ROOT_CONTEXT, trace, TraceFlags, defaultTextMapSetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { parseConfig } from '../config/config.schema';
import { isValidTraceparent, TracingService, tracesUrl } from './tracing.service';

/**
 * Jest-only shim for open-telemetry/opentelemetry-js#6035 (open): the OTLP/HTTP exporter loads
 * `http`/`https` with a dynamic `import()` when it first sends, and Jest's CommonJS module runtime
 * cannot run a dynamic import without `--experimental-vm-modules` (ERR_VM_DYNAMIC_IMPORT_CALLBACK_
 * MISSING_FLAG), so under Jest every export fails and nothing reaches the collector. Plain Node (the
 * built service) is unaffected. This replaces only that loading step: the same parameters, and the
 * exporter's own `sendWithHttp` still does the request (headers, compression, response handling).
 */
jest.mock(
  require('node:path').join(require('node:path').dirname(require.resolve('@opentelemetry/otlp-exporter-base')), 'transport', 'http-exporter-transport.js'),
  () => {
    const path: typeof import('node:path') = require('node:path');
    const http: typeof import('node:http') = require('node:http');
    const https: typeof import('node:https') = require('node:https');
    const utils = path.join(path.dirname(require.resolve('@opentelemetry/otlp-exporter-base')), 'transport', 'http-transport-utils.js');
    const { sendWithHttp } = jest.requireActual(utils);
    interface Parameters {
      url: string;
      headers: () => Promise<Record<string, string>>;
      compression: 'gzip' | 'none';
      userAgent?: string;
    }
    return {
      createHttpExporterTransport(parameters: Parameters) {
        const secure = new URL(parameters.url).protocol === 'https:';
        const agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
        return {
          async send(data: Uint8Array, timeoutMillis: number) {
            const request = secure ? https.request : http.request;
            return sendWithHttp(request, parameters.url, await parameters.headers(), parameters.compression, parameters.userAgent, agent, data, timeoutMillis);
          },
          shutdown() {
            agent.destroy();
          },
        };
      },
    };
  },
);

const CLIENT_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN_ID = '00f067aa0ba902b7';
const CLIENT_TRACEPARENT = `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01`;
const UPSTREAM_API_KEY = 'sk-uP7qW3eR9tY2uI5oZ8xC4vB6nM1';
const BEARER = 'Bearer eyJhbGciOiJIUzI1NiJ9.clientTOKEN.sig';

const STREAM = { id: 'req-1', streamId: 'str-1', principal: 'alice', model: 'gpt-4.1' };

function service(env: Record<string, string>): TracingService {
  return new TracingService(parseConfig({ HOLYSHEEP_API_KEY: UPSTREAM_API_KEY, ...env }));
}

// ---- a real OTLP/HTTP collector, just enough of one -------------------------------------------

interface OtlpAnyValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
  arrayValue?: { values: OtlpAnyValue[] };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: OtlpAnyValue }>;
  status?: { code?: number; message?: string };
  links?: Array<{ traceId: string; spanId: string }>;
}
interface OtlpRequest {
  resourceSpans: Array<{
    resource: { attributes: Array<{ key: string; value: OtlpAnyValue }> };
    scopeSpans: Array<{ spans: OtlpSpan[] }>;
  }>;
}
interface Received {
  method: string | undefined;
  path: string | undefined;
  headers: IncomingHttpHeaders;
  raw: string;
  body: OtlpRequest;
}

interface Collector {
  /** Base URL, suitable for OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint: string;
  received: Received[];
  /** Emits `request` with each {@link Received}, after it has been answered. */
  events: EventEmitter;
  /** When set, requests are held unanswered (a collector that hangs) until {@link release}. */
  hang: boolean;
  /** Answers the held requests. */
  release(): void;
  server: Server;
}

async function startCollector(): Promise<Collector> {
  const events = new EventEmitter();
  const held: Array<() => void> = [];
  const collector = { received: [] as Received[], events, hang: false } as Collector;
  collector.release = () => held.splice(0).forEach((answer) => answer());
  collector.server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      let bytes = Buffer.concat(parts);
      // OTEL_EXPORTER_OTLP_COMPRESSION=gzip in the environment would compress the body.
      if (req.headers['content-encoding'] === 'gzip') bytes = gunzipSync(bytes);
      const raw = bytes.toString('utf8');
      const entry: Received = { method: req.method, path: req.url, headers: req.headers, raw, body: JSON.parse(raw) as OtlpRequest };
      const answer = () => {
        collector.received.push(entry);
        // OTLP/HTTP: 200 with an (empty) ExportTraceServiceResponse in the request's encoding.
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        events.emit('request', entry);
      };
      if (!collector.hang) return answer();
      held.push(answer);
      events.emit('held', entry);
    });
  });
  collector.server.listen(0, '127.0.0.1');
  await once(collector.server, 'listening');
  collector.endpoint = `http://127.0.0.1:${(collector.server.address() as AddressInfo).port}`;
  return collector;
}

async function stopCollector(collector: Collector): Promise<void> {
  collector.server.closeAllConnections();
  collector.server.close();
  await once(collector.server, 'close');
}

function spansOf(received: Received[]): OtlpSpan[] {
  return received.flatMap((r) => r.body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)));
}

function attributes(span: OtlpSpan): Record<string, unknown> {
  const plain = (v: OtlpAnyValue): unknown =>
    v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.boolValue ?? v.arrayValue?.values.map(plain));
  return Object.fromEntries(span.attributes.map(({ key, value }) => [key, plain(value)]));
}

/** Shuts the service down (flushing its spans) and returns everything the collector got for it. */
async function flush(tracing: TracingService, collector: Collector): Promise<Received[]> {
  // Listen before flushing: the export may be answered before `onApplicationShutdown` resolves.
  const first = once(collector.events, 'request');
  await tracing.onApplicationShutdown();
  await first;
  return collector.received;
}

// OTLP enum values (opentelemetry-proto), not the API's.
const OTLP_KIND_SERVER = 2;
const OTLP_KIND_CLIENT = 3;
const OTLP_STATUS_ERROR = 2;

// ---- tests -------------------------------------------------------------------------------------

describe('isValidTraceparent', () => {
  it.each([
    ['the W3C example', CLIENT_TRACEPARENT],
    ['an unsampled context', `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-00`],
    ['unknown flags', `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-ff`],
    ['a future version with more fields', `01-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01-whatever`],
    ['a future version without more fields', `cc-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01`],
  ])('accepts %s', (_name, value) => {
    expect(isValidTraceparent(value)).toBe(true);
  });

  it.each([
    ['undefined', undefined],
    ['a number', 42],
    ['an object', { traceparent: CLIENT_TRACEPARENT }],
    ['the empty string', ''],
    ['version ff', `ff-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${CLIENT_SPAN_ID}-01`],
    ['an all-zero parent id', `00-${CLIENT_TRACE_ID}-${'0'.repeat(16)}-01`],
    ['upper-case hex', CLIENT_TRACEPARENT.toUpperCase()],
    ['version 00 with trailing fields', `${CLIENT_TRACEPARENT}-extra`],
    ['a future version with junk glued on', `01-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01x`],
    ['a short trace id', `00-${CLIENT_TRACE_ID.slice(1)}-${CLIENT_SPAN_ID}-01`],
    ['a long parent id', `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}0-01`],
    ['a one-digit flag', `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-1`],
    ['non-hex characters', `00-${CLIENT_TRACE_ID.replace('4', 'g')}-${CLIENT_SPAN_ID}-01`],
    ['surrounding whitespace', ` ${CLIENT_TRACEPARENT} `],
    ['a header injection attempt', `${CLIENT_TRACEPARENT}\r\nx-evil: 1`],
    ['an oversized future version', `01-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01-${'a'.repeat(300)}`],
  ])('rejects %s', (_name, value) => {
    expect(isValidTraceparent(value)).toBe(false);
  });
});

describe('tracesUrl', () => {
  it('appends /v1/traces to the generic endpoint, as the OTLP exporter spec says', () => {
    expect(tracesUrl('http://collector:4318')).toBe('http://collector:4318/v1/traces');
    expect(tracesUrl('http://collector:4318/')).toBe('http://collector:4318/v1/traces');
    expect(tracesUrl('https://example.com/otlp//')).toBe('https://example.com/otlp/v1/traces');
  });

  it('refuses what is not an absolute http(s) URL', () => {
    expect(tracesUrl('collector:4318')).toBeUndefined();
    expect(tracesUrl('/v1')).toBeUndefined();
    expect(tracesUrl('grpc://collector:4317')).toBeUndefined();
  });
});

describe('TracingService disabled (no OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  const tracing = service({});

  it('is off and hands out one shared no-op span', () => {
    expect(tracing.enabled).toBe(false);
    const a = tracing.startStream(STREAM);
    const b = tracing.startStream(STREAM, 'not-a-traceparent');
    expect(a).toBe(b);
    const attempt = a.startUpstreamAttempt('gpt-4.1', 1);
    expect(attempt.traceparent).toBeUndefined();
    expect(a.startUpstreamAttempt('gpt-4.1', 2)).toBe(attempt);
    expect(() => {
      attempt.end({ status: 500, error: 'boom' });
      attempt.end({});
      a.end({ chunks: 0, errorCode: 'upstream_error' });
      a.end({ chunks: 0 });
    }).not.toThrow();
  });

  it("passes a client's valid traceparent through to every upstream attempt", () => {
    const span = tracing.startStream(STREAM, CLIENT_TRACEPARENT);
    expect(span.startUpstreamAttempt('gpt-4.1', 1).traceparent).toBe(CLIENT_TRACEPARENT);
    expect(span.startUpstreamAttempt('gpt-4.1-mini', 2).traceparent).toBe(CLIENT_TRACEPARENT);
    span.end({ chunks: 3, finishReason: 'stop' });
  });

  it('sends a future-version traceparent on as version 00, its extra fields dropped', () => {
    const span = tracing.startStream(STREAM, `02-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01-future`);
    expect(span.startUpstreamAttempt('gpt-4.1', 1).traceparent).toBe(CLIENT_TRACEPARENT);
  });

  it.each([
    ['malformed', 'garbage'],
    ['all-zero', `00-${'0'.repeat(32)}-${CLIENT_SPAN_ID}-01`],
    ['not a string', 7 as unknown as string],
  ])('drops a %s client traceparent', (_name, value) => {
    const span = tracing.startStream(STREAM, value);
    expect(span.startUpstreamAttempt('gpt-4.1', 1).traceparent).toBeUndefined();
  });

  it('has nothing to flush at shutdown', async () => {
    await expect(tracing.onApplicationShutdown()).resolves.toBeUndefined();
  });

  it('stays off, rather than failing the boot, when the endpoint is not a URL', () => {
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const bad = service({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' });
    expect(bad.enabled).toBe(false);
    expect(bad.startStream(STREAM, CLIENT_TRACEPARENT).startUpstreamAttempt('m', 1).traceparent).toBe(CLIENT_TRACEPARENT);
    expect(error).toHaveBeenCalledWith(expect.stringContaining('OTEL_EXPORTER_OTLP_ENDPOINT'));
    error.mockRestore();
  });
});

describe('TracingService enabled, exporting to a real OTLP/HTTP collector', () => {
  let collector: Collector;

  beforeAll(async () => {
    // The service logs where it exports and warns about the hung collector: expected, not news.
    Logger.overrideLogger(false);
    collector = await startCollector();
  });
  afterAll(async () => {
    await stopCollector(collector);
  });
  beforeEach(() => {
    collector.received = [];
    collector.hang = false;
  });

  it("exports a stream span in the client's trace, with a child span per upstream attempt", async () => {
    // A trailing slash on the endpoint must not yield `//v1/traces`.
    const tracing = service({ OTEL_EXPORTER_OTLP_ENDPOINT: `${collector.endpoint}/`, OTEL_SERVICE_NAME: 'gw-under-test' });
    expect(tracing.enabled).toBe(true);

    const stream = tracing.startStream(STREAM, CLIENT_TRACEPARENT);
    const first = stream.startUpstreamAttempt('gpt-4.1', 1);
    first.end({ status: 503, error: `upstream said no to ${BEARER} with key ${UPSTREAM_API_KEY}` });
    first.end({ status: 200 }); // idempotent: ignored
    const second = stream.startUpstreamAttempt('gpt-4.1-mini', 2);
    second.end({ status: 200 });
    stream.end({
      finishReason: 'stop',
      chunks: 12,
      timeToFirstChunkMs: 87,
      usage: { prompt_tokens: 21, completion_tokens: 34, total_tokens: 55 },
      model: 'gpt-4.1-mini',
    });
    stream.end({ chunks: 99, errorCode: 'internal' }); // idempotent: ignored

    const received = await flush(tracing, collector);

    // The transport: POST /v1/traces, OTLP/JSON.
    expect(received[0].method).toBe('POST');
    expect(received[0].path).toBe('/v1/traces');
    expect(received[0].headers['content-type']).toBe('application/json');

    const resource = attributes({ attributes: received[0].body.resourceSpans[0].resource.attributes } as OtlpSpan);
    expect(resource['service.name']).toBe('gw-under-test');

    const spans = spansOf(received);
    expect(spans.map((s) => s.name).sort()).toEqual(['chat.stream', 'chat.upstream', 'chat.upstream']);
    const streamSpan = spans.find((s) => s.name === 'chat.stream')!;
    const upstream = spans.filter((s) => s.name === 'chat.upstream');
    const failed = upstream.find((s) => attributes(s)['gateway.attempt'] === 1)!;
    const succeeded = upstream.find((s) => attributes(s)['gateway.attempt'] === 2)!;

    // The stream joined the client's trace, as a child of the client's span.
    expect(streamSpan.traceId).toBe(CLIENT_TRACE_ID);
    expect(streamSpan.parentSpanId).toBe(CLIENT_SPAN_ID);
    expect(streamSpan.kind).toBe(OTLP_KIND_SERVER);
    expect(streamSpan.status?.code ?? 0).not.toBe(OTLP_STATUS_ERROR);
    expect(attributes(streamSpan)).toEqual({
      'gateway.request_id': 'req-1',
      'gateway.stream_id': 'str-1',
      'enduser.id': 'alice',
      'gen_ai.request.model': 'gpt-4.1',
      'gen_ai.response.model': 'gpt-4.1-mini',
      'gen_ai.response.finish_reasons': ['stop'],
      'gen_ai.usage.input_tokens': 21,
      'gen_ai.usage.output_tokens': 34,
      'gateway.chunks': 12,
      'gateway.ttfc_ms': 87,
    });

    // Each attempt is a CLIENT child of the stream span, and the traceparent handed out for it
    // names exactly that span.
    for (const [span, attempt] of [
      [failed, first],
      [succeeded, second],
    ] as const) {
      expect(span.traceId).toBe(CLIENT_TRACE_ID);
      expect(span.parentSpanId).toBe(streamSpan.spanId);
      expect(span.kind).toBe(OTLP_KIND_CLIENT);
      expect(attempt.traceparent).toBe(`00-${CLIENT_TRACE_ID}-${span.spanId}-01`);
    }
    expect(attributes(failed)).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-4.1',
      'gateway.attempt': 1,
      'http.response.status_code': 503,
      'error.type': '503',
    });
    expect(failed.status?.code).toBe(OTLP_STATUS_ERROR);
    expect(failed.status?.message).toContain('upstream said no');
    expect(attributes(succeeded)).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-4.1-mini',
      'gateway.attempt': 2,
      'http.response.status_code': 200,
    });
    expect(succeeded.status?.code ?? 0).not.toBe(OTLP_STATUS_ERROR);

    // Nothing secret left the process, not even inside the error text.
    const everything = received.map((r) => r.raw).join('\n');
    expect(everything).not.toContain(UPSTREAM_API_KEY);
    expect(everything).not.toContain('clientTOKEN');
  });

  it('formats the upstream traceparent exactly as W3CTraceContextPropagator would', async () => {
    const tracing = service({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint });
    const stream = tracing.startStream(STREAM, CLIENT_TRACEPARENT);
    const attempt = stream.startUpstreamAttempt('gpt-4.1', 1);
    const [, traceId, spanId, flags] = attempt.traceparent!.split('-');
    const carrier: Record<string, string> = {};
    new W3CTraceContextPropagator().inject(
      trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: parseInt(flags, 16) as TraceFlags }),
      carrier,
      defaultTextMapSetter,
    );
    expect(attempt.traceparent).toBe(carrier.traceparent);
    attempt.end({ status: 200 });
    stream.end({ chunks: 0, finishReason: 'stop' });
    await flush(tracing, collector);
  });

  it('starts a new trace when the client sends none, or a malformed one', async () => {
    const tracing = service({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint });
    const withNone = tracing.startStream({ ...STREAM, streamId: 'none' });
    const withBad = tracing.startStream({ ...STREAM, streamId: 'bad' }, `00-${'0'.repeat(32)}-${CLIENT_SPAN_ID}-01`);
    const attempt = withNone.startUpstreamAttempt('gpt-4.1', 1);
    attempt.end({ status: 200 });
    withNone.end({ chunks: 1, finishReason: 'stop' });
    withBad.end({ chunks: 0, abandoned: true });

    const spans = spansOf(await flush(tracing, collector));
    const none = spans.find((s) => s.name === 'chat.stream' && attributes(s)['gateway.stream_id'] === 'none')!;
    const bad = spans.find((s) => s.name === 'chat.stream' && attributes(s)['gateway.stream_id'] === 'bad')!;
    for (const span of [none, bad]) {
      expect(span.parentSpanId ?? '').toBe('');
      expect(span.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(span.traceId).not.toBe(CLIENT_TRACE_ID);
    }
    expect(none.traceId).not.toBe(bad.traceId);
    // A new root is sampled (parentbased_always_on), and the upstream learns that.
    expect(attempt.traceparent).toMatch(new RegExp(`^00-${none.traceId}-[0-9a-f]{16}-01$`));
    expect(attributes(bad)['gateway.abandoned']).toBe(true);
    expect(bad.status?.code ?? 0).not.toBe(OTLP_STATUS_ERROR);
  });

  it('exports a resume as a span of its own, linked to the stream it resumed', async () => {
    const tracing = service({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint });
    const stream = tracing.startStream(STREAM, CLIENT_TRACEPARENT);
    expect(stream.traceparent).toMatch(new RegExp(`^00-${CLIENT_TRACE_ID}-[0-9a-f]{16}-01$`));
    tracing.startResume({ streamId: 'str-1', principal: 'alice', afterSeq: 7 }, stream.traceparent)('resumed');
    stream.end({ chunks: 1, finishReason: 'stop' });

    const spans = spansOf(await flush(tracing, collector));
    const streamSpan = spans.find((s) => s.name === 'chat.stream')!;
    const resume = spans.find((s) => s.name === 'chat.resume')!;
    expect(resume.traceId).not.toBe(streamSpan.traceId);
    expect(resume.links).toEqual([expect.objectContaining({ traceId: streamSpan.traceId, spanId: streamSpan.spanId })]);
    expect(attributes(resume)).toEqual({ 'gateway.stream_id': 'str-1', 'enduser.id': 'alice', 'gateway.resume.after_seq': 7, 'gateway.resume.result': 'resumed' });
  });

  it('marks a stream that ended with chat.error, and closes an attempt left open', async () => {
    const tracing = service({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint });
    const stream = tracing.startStream(STREAM, CLIENT_TRACEPARENT);
    const attempt = stream.startUpstreamAttempt('gpt-4.1', 1);
    stream.end({ chunks: 4, timeToFirstChunkMs: 10, errorCode: 'upstream_timeout', usage: null });
    attempt.end({ status: 200 }); // too late: the stream already closed it

    const spans = spansOf(await flush(tracing, collector));
    const streamSpan = spans.find((s) => s.name === 'chat.stream')!;
    const upstream = spans.find((s) => s.name === 'chat.upstream')!;
    expect(streamSpan.status).toEqual({ code: OTLP_STATUS_ERROR, message: 'upstream_timeout' });
    expect(attributes(streamSpan)).toMatchObject({ 'gateway.error_code': 'upstream_timeout', 'error.type': 'upstream_timeout', 'gateway.chunks': 4 });
    expect(attributes(streamSpan)).not.toHaveProperty('gen_ai.usage.input_tokens');
    expect(upstream.parentSpanId).toBe(streamSpan.spanId);
    expect(attributes(upstream)).not.toHaveProperty('http.response.status_code');
  });

  it("propagates but does not export a trace the client chose not to sample", async () => {
    const tracing = service({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint });
    const stream = tracing.startStream(STREAM, `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-00`);
    const attempt = stream.startUpstreamAttempt('gpt-4.1', 1);
    // Same trace, a span id of the gateway's own, and the "not sampled" decision passed on.
    expect(attempt.traceparent).toMatch(new RegExp(`^00-${CLIENT_TRACE_ID}-[0-9a-f]{16}-00$`));
    expect(attempt.traceparent).not.toContain(CLIENT_SPAN_ID);
    attempt.end({ status: 200 });
    stream.end({ chunks: 1, finishReason: 'stop' });
    // Nothing was queued, so the shutdown has nothing to send (it would otherwise wait for the answer).
    await tracing.onApplicationShutdown();
    expect(collector.received).toEqual([]);
  });

  it('gives up flushing after a bounded time when the collector hangs', async () => {
    collector.hang = true;
    const tracing = service({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint });
    tracing.startStream(STREAM).end({ chunks: 0, finishReason: 'stop' });
    const arrived = once(collector.events, 'held');
    const started = Date.now();
    const shutdown = tracing.onApplicationShutdown();
    await arrived; // the export really is in flight, and unanswered
    await shutdown;
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(tracing.onApplicationShutdown()).toBe(shutdown); // idempotent

    // Let the abandoned export complete, so nothing of it outlives the test.
    const answered = once(collector.events, 'request');
    collector.release();
    await answered;
  });
});
