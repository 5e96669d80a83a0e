import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import { randomUUID } from 'node:crypto';
import { EmptySignal } from '../async/empty-signal';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import type { ClientConnection } from '../connections/client-connection';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import { MetricsService } from '../metrics/metrics.service';
import type { StreamListResultFrame, StreamResumeFrame, StreamSummary } from '@holysheep/protocol';
import { RedisService } from '../redis/redis.service';
import { TracingService, type StreamSpan } from '../tracing/tracing.service';
import { HolySheepStreamService, type AttemptObserver } from '../upstream/holysheep-stream.service';
import type { UpstreamChatRequest } from '../upstream/upstream-request';
import { ChatStream } from './chat-stream';
import { DetachedStreams } from './detached-streams';
import { MemoryStreamLog } from './memory-stream-log';
import { RedisStreamLog } from './redis-stream-log';
import type { StreamFailure } from './stream-errors';
import type { LogSubscription } from './stream-log';
import { StreamOwnership } from './stream-ownership';
import type { StreamRecord } from './stream-record';
import { PRODUCER_DIED, StreamWatcher } from './stream-watcher';

/** Without a bound on stream duration, how long a running stream's Redis keys live between renewals. */
const UNBOUNDED_STREAM_TTL_MS = 3_600_000;

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
  /** With `REDIS_URL`: the log every replica reads, and who owns which stream. */
  private readonly shared: RedisStreamLog | undefined;
  private readonly ownership: StreamOwnership | undefined;

  constructor(
    private readonly upstream: HolySheepStreamService,
    private readonly registry: ConnectionRegistryService,
    private readonly metrics: MetricsService,
    private readonly tracing: TracingService,
    @InjectPinoLogger('Streams') private readonly logger: PinoLogger,
    @InjectConfig() private readonly config: GatewayConfig,
    private readonly redis: RedisService,
  ) {
    const { resume } = config;
    this.log = new MemoryStreamLog({
      maxStreamBytes: resume.maxStreamBytes,
      maxTotalBytes: resume.maxTotalBytes,
      retentionMs: resume.retentionMs,
      now: () => this.registry.now(),
    });
    this.detached = new DetachedStreams(resume.graceMs, resume.maxDetachedPerPrincipal, (stream) => this.abandon(stream));
    metrics.gauge('detached_streams', 'Streams running with no socket attached (in their resume grace)', () => this.detached.count);
    metrics.gauge('stream_log_bytes', 'Bytes of stream frames kept in memory for resume on this instance', () => this.log.totalBytes);
    if (config.redis && redis.enabled) {
      this.ownership = new StreamOwnership(redis, config.redis.leaseMs);
      const runningTtlMs = (config.limits.maxStreamDurationMs || UNBOUNDED_STREAM_TTL_MS) + resume.graceMs;
      this.shared = new RedisStreamLog(
        redis,
        this.ownership,
        { batchMs: config.redis.batchMs, retentionMs: resume.retentionMs, maxStreamBytes: resume.maxStreamBytes, runningTtlMs },
        (entries, frames) => metrics.logBatch(entries, frames),
      );
      void this.ownership.start((streamId) => this.running.get(streamId)?.stream.cancel());
    }
  }

  /** Whether another replica can resume this instance's streams now (a Redis log, and Redis up). */
  get sharedLogUp(): boolean {
    return this.shared !== undefined && this.redis.up;
  }

  /** Streams producing here (their upstream request is open). */
  get activeCount(): number {
    return this.running.size;
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
    const owner = this.ownership?.instance ?? 'local';
    const span = this.tracing.startStream({ id, streamId, principal, model: request.model }, traceparent);
    const meta = { streamId, principal, requestId: id, model: request.model, startedAt: Date.now(), owner, traceparent: span.traceparent };
    const record = this.log.create(meta, {
      pause: () => stream.flow.pause(),
      resume: () => stream.flow.resume(),
    });
    stream = new ChatStream(init, record, (ended) => this.ended(ended));
    this.shared?.replicate(record, () => {
      // Another instance ended this stream's log (this one's lease had lapsed): it cannot go on.
      this.logger.warn({ event: 'stream_fenced', stream_id: streamId }, 'stream ended elsewhere while this instance was cut off from Redis');
      stream.abort(PRODUCER_DIED);
    });
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
    // A stream kept here is read here (complete, even while Redis is away); else the shared log.
    const local = await this.log.find(frame.stream_id, connection.principal);
    const source = local || !this.shared ? this.log : this.shared;
    const found = local ?? (await this.fromShared(() => this.shared?.find(frame.stream_id, connection.principal)));
    const id = frame.id ?? found?.meta.requestId ?? frame.stream_id;
    if (found && connection.hasStream(id)) {
      return connection.reply({ type: 'error', code: 'duplicate_id', message: `A stream with id "${id}" is already active on this socket`, id });
    }
    const watcher = this.watcher(connection, frame.stream_id, id, frame.after_seq, id === found?.meta.requestId);
    const subscription = !found
      ? undefined
      : source === this.log
        ? await this.log.follow(frame.stream_id, frame.after_seq, watcher)
        : await this.fromShared(() => this.shared?.follow(frame.stream_id, frame.after_seq, watcher));
    const result = subscription ? 'resumed' : 'not_found';
    this.metrics.streamResumed(result);
    this.tracing.startResume({ streamId: frame.stream_id, principal: connection.principal, afterSeq: frame.after_seq }, found?.meta.traceparent)(result);
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

  /**
   * `chat.cancel`: the stream the socket calls `id`, wherever it runs — here, or on the replica
   * that owns it (told over Redis). Unknown ids are a no-op.
   */
  cancel(connection: ClientConnection, id: string): void {
    const streamId = connection.streamIdOf(id);
    if (streamId === undefined) return;
    const running = this.running.get(streamId);
    if (running) return running.stream.cancel();
    const owner = this.shared?.ownerOf(streamId);
    if (owner !== undefined) this.ownership!.cancel(owner, streamId).catch((error) => this.redis.failed('cancel', error));
  }

  /** `stream.list`: this principal's streams that can be resumed, newest first. */
  async list(connection: ClientConnection, id?: string): Promise<StreamListResultFrame> {
    const local = await this.log.list(connection.principal);
    const shared = (await this.fromShared(() => this.shared?.list(connection.principal))) ?? [];
    const seen = new Set(local.map((s) => s.stream_id));
    const streams: StreamSummary[] = [...local, ...shared.filter((s) => !seen.has(s.stream_id))].sort((a, b) => b.started_at.localeCompare(a.started_at));
    return id === undefined ? { type: 'stream.list.result', streams } : { type: 'stream.list.result', id, streams };
  }

  /** A drain with a shared log: detached streams run on to their end, for other replicas to resume. */
  holdDetached(): void {
    this.detached.hold();
  }

  /** Writes what the shared log still lacks, and lets go of this instance's lease (end of a drain). */
  async releaseSharedLog(): Promise<void> {
    if (!this.shared) return;
    await this.shared.flushNow().catch((error) => this.redis.failed('log_write', error));
    await this.ownership!.stop();
    this.shared.close();
  }

  /** Runs a read of the shared log; a Redis failure reads as "not there" (and is counted). */
  private async fromShared<T>(read: () => Promise<T> | undefined): Promise<T | undefined> {
    if (!this.redis.up) return undefined;
    try {
      return await read();
    } catch (error) {
      this.redis.failed('log_read', error);
      return undefined;
    }
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

  private watcher(connection: ClientConnection, streamId: string, id: string, afterSeq: number, requestedId: boolean): StreamWatcher {
    return new StreamWatcher(connection, streamId, id, afterSeq, requestedId, (ended) => this.watchEnded(connection, ended));
  }

  /** The socket that asked for `streamId` watches it from `afterSeq`, through the subscription `follow` makes for the watcher. */
  private watch(connection: ClientConnection, streamId: string, id: string, afterSeq: number, follow: (watcher: StreamWatcher) => LogSubscription): void {
    const watcher = this.watcher(connection, streamId, id, afterSeq, true);
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
