import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import { randomUUID } from 'node:crypto';
import { EmptySignal } from '../common/empty-signal';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import type { ClientConnection } from '../connections/client-connection';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import { MetricsService } from '../metrics/metrics.service';
import type { StreamListResultFrame, StreamResumeFrame } from '../protocol';
import { TracingService, type StreamSpan } from '../tracing/tracing.service';
import { HolySheepStreamService, type AttemptObserver } from '../upstream/holysheep-stream.service';
import type { UpstreamChatRequest } from '../upstream/upstream-request';
import { ChatStream } from './chat-stream';
import { DetachedStreams } from './detached-streams';
import { MemoryStreamLog } from './memory-stream-log';
import type { StreamFailure } from './stream-errors';
import type { LogSubscription, StreamLog } from './stream-log';
import type { StreamRecord } from './stream-record';
import { StreamWatcher } from './stream-watcher';

/** Told whenever a socket stops watching a stream (drain closes sockets with none left). */
export type WatchEndListener = (connection: ClientConnection) => void;

interface Running {
  stream: ChatStream;
  record: StreamRecord;
  span: StreamSpan;
}

/**
 * Every stream of this instance: it starts them (each a {@link ChatStream} writing into its log),
 * attaches the sockets that watch them — the one that asked, and any that resume them later — and
 * decides what happens when nobody watches: the resume grace, then abandon. Cancel, resume and
 * `stream.list` arrive here from any socket of the stream's principal. It also writes the one log
 * line per stream and feeds the stream metrics.
 */
@Injectable()
export class StreamManagerService implements OnModuleDestroy {
  private readonly running = new Map<string, Running>();
  private readonly log: MemoryStreamLog;
  private readonly detached: DetachedStreams;
  private readonly watchEndListeners: WatchEndListener[] = [];
  private readonly idle = new EmptySignal();

  constructor(
    private readonly upstream: HolySheepStreamService,
    private readonly registry: ConnectionRegistryService,
    private readonly metrics: MetricsService,
    private readonly tracing: TracingService,
    @InjectPinoLogger('Streams') private readonly logger: PinoLogger,
    @InjectConfig() private readonly config: GatewayConfig,
  ) {
    const { resume } = config;
    this.log = new MemoryStreamLog({
      maxStreamBytes: resume.maxStreamBytes,
      maxTotalBytes: resume.maxTotalBytes,
      retentionMs: resume.retentionMs,
      now: () => this.registry.now(),
    });
    this.detached = new DetachedStreams(resume.graceMs, resume.maxDetachedPerPrincipal, (stream) => this.abandon(stream));
  }

  /** Streams producing here (their upstream request is open). */
  get activeCount(): number {
    return this.running.size;
  }

  /** Running streams no socket watches (in their grace). */
  get detachedCount(): number {
    return this.detached.count;
  }

  /** Bytes of frames kept for resume, on this instance. */
  get loggedBytes(): number {
    return this.log.totalBytes;
  }

  onWatchEnd(listener: WatchEndListener): void {
    this.watchEndListeners.push(listener);
  }

  /** @param traceparent the client's own W3C trace context, to join its trace (optional). */
  start(connection: ClientConnection, id: string, request: UpstreamChatRequest, traceparent?: string): ChatStream {
    const streamId = `str_${randomUUID()}`;
    const principal = connection.principal;
    const now = () => this.registry.now();
    const init = { id, streamId, principal, model: request.model, now, totals: this.registry.totals, maxDurationMs: this.config.limits.maxStreamDurationMs };
    let stream!: ChatStream;
    const record = this.log.create({ streamId, principal, requestId: id, model: request.model, startedAt: Date.now(), owner: 'local' }, {
      pause: () => stream.flow.pause(),
      resume: () => stream.flow.resume(),
    });
    stream = new ChatStream(init, record, (ended) => this.ended(ended));
    const span = this.tracing.startStream({ id, streamId, principal, model: request.model }, traceparent);
    this.running.set(streamId, { stream, record, span });
    this.metrics.streamStarted();
    this.logger.debug({ event: 'stream_started', id, stream_id: streamId, principal, model: request.model, messages: request.messages.length }, 'stream started');
    // Prompt contents are the users' data: only at trace level, for debugging.
    if (this.logger.logger.isLevelEnabled('trace')) this.logger.trace({ event: 'stream_request', stream_id: streamId, request }, 'stream request');
    this.watch(connection, streamId, id, 0, (watcher) => record.follow(0, watcher)!);

    stream.start(
      this.upstream.streamEvents(request, {
        flow: stream.flow,
        onAttempt: (model, attempt) => this.attemptObserver(span, model, attempt),
        onRetry: (info) => {
          this.metrics.upstreamRetried(info.fallbackTo ? 'fallback' : 'retry');
          this.logger.info({ event: 'upstream_retry', stream_id: streamId, ...info }, info.fallbackTo ? 'falling back to another model' : 'retrying upstream');
        },
      }),
    );
    return stream;
  }

  /**
   * `stream.resume`: replays the stream's frames after `after_seq` to this socket, then continues
   * live. Only its principal may; a stream unknown, expired, or partly gone is `stream_not_found`.
   */
  async resume(connection: ClientConnection, frame: StreamResumeFrame): Promise<void> {
    const found = await this.log.find(frame.stream_id, connection.principal);
    const id = frame.id ?? found?.meta.requestId ?? frame.stream_id;
    if (found && connection.hasStream(id)) {
      return connection.reply({ type: 'error', code: 'duplicate_id', message: `A stream with id "${id}" is already active on this socket`, id });
    }
    const source: StreamLog = this.log;
    const watcher = this.watcher(connection, frame.stream_id, id, frame.after_seq);
    const subscription = found ? await source.follow(frame.stream_id, frame.after_seq, watcher) : undefined;
    const result = subscription ? 'resumed' : 'not_found';
    this.metrics.streamResumed(result);
    this.logger.info(
      { event: 'stream_resume', stream_id: frame.stream_id, id, principal: connection.principal, connection_id: connection.id, after_seq: frame.after_seq, result, last_seq: found?.lastSeq },
      'stream resume',
    );
    if (!subscription) return connection.reply(notFound(frame, id));
    // The socket may have closed, or taken the id, while the log was read.
    if (!connection.transport.isOpen || connection.hasStream(id)) return subscription.close();
    if (found!.lastSeq > frame.after_seq) this.metrics.framesReplayed(found!.lastSeq - frame.after_seq);
    this.attach(connection, watcher, subscription);
  }

  /** `chat.cancel`: the stream the socket calls `id`, wherever it runs. Unknown ids are a no-op. */
  cancel(connection: ClientConnection, id: string): void {
    const streamId = connection.streamIdOf(id);
    if (streamId !== undefined) this.running.get(streamId)?.stream.cancel();
  }

  /** `stream.list`: this principal's streams that can be resumed, newest first. */
  async list(connection: ClientConnection, id?: string): Promise<StreamListResultFrame> {
    const streams = await this.log.list(connection.principal);
    return id === undefined ? { type: 'stream.list.result', streams } : { type: 'stream.list.result', id, streams };
  }

  /** The active stream a socket knows by the client's `id`, if it runs here. */
  findActive(connection: ClientConnection, id: string): ChatStream | undefined {
    const streamId = connection.streamIdOf(id);
    return streamId === undefined ? undefined : this.running.get(streamId)?.stream;
  }

  /** Ends every running stream with a gateway-side `chat.error` (used when drain time runs out). */
  abortAll(failure: StreamFailure): void {
    for (const { stream } of [...this.running.values()]) stream.abort(failure);
  }

  /** A drain without a shared log: streams nobody watches stop now, as will any detached later. */
  abandonDetached(): void {
    this.detached.abandonAll();
  }

  /** Resolves once no stream is running (at once if none is). */
  whenIdle(): Promise<void> {
    return this.idle.wait(this.running.size);
  }

  onModuleDestroy(): void {
    this.log.close();
  }

  private watcher(connection: ClientConnection, streamId: string, id: string, afterSeq: number): StreamWatcher {
    return new StreamWatcher(connection, streamId, id, afterSeq, (ended) => this.watchEnded(connection, ended));
  }

  /** Watches `streamId` on `connection` from `afterSeq`, through the subscription `follow` makes for the watcher. */
  private watch(connection: ClientConnection, streamId: string, id: string, afterSeq: number, follow: (watcher: StreamWatcher) => LogSubscription): void {
    const watcher = this.watcher(connection, streamId, id, afterSeq);
    this.attach(connection, watcher, follow(watcher));
  }

  /** The socket now watches the stream: delivery starts (the subscription was created paused). */
  private attach(connection: ClientConnection, watcher: StreamWatcher, subscription: LogSubscription): void {
    connection.streamStarted(watcher.id, watcher.streamId, watcher);
    const running = this.running.get(watcher.streamId);
    if (running) this.detached.attached(running.stream);
    watcher.attach(subscription);
  }

  private watchEnded(connection: ClientConnection, watcher: StreamWatcher): void {
    connection.streamEnded(watcher.id, watcher);
    const running = this.running.get(watcher.streamId);
    if (running && running.record.readerCount === 0) this.detached.detached(running.stream);
    for (const listener of this.watchEndListeners) listener(connection);
  }

  private abandon(stream: ChatStream): void {
    if (!stream.active) return;
    this.metrics.streamAbandoned();
    stream.abandon();
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
    const entry = this.running.get(stream.streamId);
    if (!entry) return;
    this.running.delete(stream.streamId);
    this.detached.attached(stream);
    this.record(stream, entry.span);
    this.idle.check(this.running.size);
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

function notFound(frame: StreamResumeFrame, id: string) {
  return {
    type: 'chat.error',
    id,
    stream_id: frame.stream_id,
    code: 'stream_not_found',
    message: 'This stream is unknown, expired, or not yours to resume',
    retryable: false,
  } as const;
}
