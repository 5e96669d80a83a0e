import { Injectable } from '@nestjs/common';
import { EmptySignal } from '../common/empty-signal';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import { randomUUID } from 'node:crypto';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import type { ClientConnection } from '../connections/client-connection';
import { MetricsService } from '../metrics/metrics.service';
import { TracingService, type StreamSpan } from '../tracing/tracing.service';
import { HolySheepStreamService, type AttemptObserver } from '../upstream/holysheep-stream.service';
import type { UpstreamChatRequest } from '../upstream/upstream-request';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { ChatStream } from './chat-stream';
import type { StreamFailure } from './stream-errors';

export type StreamEndListener = (stream: ChatStream, connection: ClientConnection) => void;

/**
 * Creates and tracks every active stream on this instance, by its global `stream_id`, and ties
 * each to the socket that started it. The gateway asks it to start, cancel and abandon streams;
 * drain asks it to wait for all of them. It also writes the one log line per stream and feeds
 * the stream metrics.
 */
@Injectable()
export class StreamManagerService {
  private readonly streams = new Map<string, { stream: ChatStream; connection: ClientConnection; span: StreamSpan }>();
  private readonly endListeners: StreamEndListener[] = [];
  private readonly idle = new EmptySignal();

  constructor(
    private readonly upstream: HolySheepStreamService,
    private readonly registry: ConnectionRegistryService,
    private readonly metrics: MetricsService,
    private readonly tracing: TracingService,
    @InjectPinoLogger('Streams') private readonly logger: PinoLogger,
    @InjectConfig() private readonly config: GatewayConfig,
  ) {}

  get activeCount(): number {
    return this.streams.size;
  }

  /** Observers of every stream's end (drain). */
  onStreamEnd(listener: StreamEndListener): void {
    this.endListeners.push(listener);
  }

  /** @param traceparent the client's own W3C trace context, to join its trace (optional). */
  start(connection: ClientConnection, id: string, request: UpstreamChatRequest, traceparent?: string): ChatStream {
    const stream = new ChatStream(
      {
        id,
        streamId: `str_${randomUUID()}`,
        principal: connection.principal,
        model: request.model,
        now: () => this.registry.now(),
        totals: this.registry.totals,
        maxDurationMs: this.config.limits.maxStreamDurationMs,
      },
      connection,
      (ended) => this.ended(ended),
    );
    const span = this.tracing.startStream({ id, streamId: stream.streamId, principal: connection.principal, model: request.model }, traceparent);
    this.streams.set(stream.streamId, { stream, connection, span });
    connection.streamStarted(id, stream.streamId);
    this.metrics.streamStarted();
    this.logger.debug({ event: 'stream_started', id, stream_id: stream.streamId, principal: connection.principal, model: request.model, messages: request.messages.length }, 'stream started');
    // Prompt contents are the users' data: only at trace level, for debugging.
    if (this.logger.logger.isLevelEnabled('trace')) this.logger.trace({ event: 'stream_request', stream_id: stream.streamId, request }, 'stream request');

    stream.start(
      this.upstream.streamEvents(request, {
        flow: connection.flow,
        onAttempt: (model, attempt) => this.attemptObserver(span, model, attempt),
        onRetry: (info) => {
          this.metrics.upstreamRetried(info.fallbackTo ? 'fallback' : 'retry');
          this.logger.info({ event: 'upstream_retry', stream_id: stream.streamId, ...info }, info.fallbackTo ? 'falling back to another model' : 'retrying upstream');
        },
      }),
    );
    return stream;
  }

  /** The active stream a socket knows by the client's `id`, if any. */
  findActive(connection: ClientConnection, id: string): ChatStream | undefined {
    const streamId = connection.streamIdOf(id);
    return streamId === undefined ? undefined : this.streams.get(streamId)?.stream;
  }

  /** Socket closed: abort every stream it started (no resume yet, so nobody could receive the rest). */
  abandonAll(connection: ClientConnection): void {
    for (const streamId of connection.streamIds()) this.streams.get(streamId)?.stream.abandon();
  }

  /** Ends every active stream with a gateway-side `chat.error` (used when drain time runs out). */
  abortAll(failure: StreamFailure): void {
    for (const { stream } of [...this.streams.values()]) stream.abort(failure);
  }

  /** Resolves once no stream is active (at once if none is). */
  whenIdle(): Promise<void> {
    return this.idle.wait(this.streams.size);
  }

  /** One upstream attempt: a child span (whose context goes upstream) and the header-latency metric. */
  private attemptObserver(span: StreamSpan, model: string, attempt: number): AttemptObserver {
    const traced = span.startUpstreamAttempt(model, attempt);
    let status: number | undefined;
    return {
      traceparent: traced.traceparent,
      responded: (code, latencyMs) => {
        status = code;
        this.metrics.upstreamResponded(latencyMs / 1000);
      },
      ended: (outcome) => traced.end(typeof outcome === 'string' ? { status } : { status, error: outcome.message }),
    };
  }

  private ended(stream: ChatStream): void {
    const entry = this.streams.get(stream.streamId);
    if (!entry) return;
    this.streams.delete(stream.streamId);
    entry.connection.streamEnded(stream.id);
    this.record(stream, entry.span);
    for (const listener of this.endListeners) listener(stream, entry.connection);
    this.idle.check(this.streams.size);
  }

  /** The stream's log line, metrics and span. */
  private record(stream: ChatStream, span: StreamSpan): void {
    const outcome = stream.outcome!;
    const now = this.registry.now();
    const label = outcome.kind === 'done' ? outcome.finishReason : outcome.kind === 'error' ? outcome.code : 'abandoned';
    const ttfcMs = stream.firstChunkAt === undefined ? undefined : stream.firstChunkAt - stream.startedAt;
    this.metrics.streamEnded(label, (now - stream.startedAt) / 1000, ttfcMs === undefined ? undefined : ttfcMs / 1000);
    span.end({
      chunks: stream.chunks,
      timeToFirstChunkMs: ttfcMs,
      usage: stream.usage,
      model: stream.model,
      ...(outcome.kind === 'done' ? { finishReason: outcome.finishReason } : outcome.kind === 'error' ? { errorCode: outcome.code } : { abandoned: true }),
    });
    this.logger.info(
      {
        event: 'stream_ended',
        id: stream.id,
        stream_id: stream.streamId,
        principal: stream.principal,
        model: stream.model,
        chunks: stream.chunks,
        ttfc_ms: ttfcMs,
        duration_ms: now - stream.startedAt,
        ...(outcome.kind === 'done' ? { finish_reason: outcome.finishReason } : outcome.kind === 'error' ? { error_code: outcome.code } : { abandoned: true }),
        usage: stream.usage,
      },
      'stream ended',
    );
  }
}
