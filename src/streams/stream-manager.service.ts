import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import { randomUUID } from 'node:crypto';
import { EmptySignal } from '../async/empty-signal';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { MetricsService } from '../metrics/metrics.service';
import type { StreamFormat, StreamListResultFrame, StreamResumeFrame } from '@holysheep/protocol';
import { TracingService, type StreamSpan } from '../tracing/tracing.service';
import { HolySheepStreamService, type AttemptObserver } from '../upstream/holysheep-stream.service';
import type { UpstreamChatRequest } from '../upstream/upstream-request';
import { ChatStream } from './chat-stream';
import { DetachedStreams } from './detached-streams';
import { PRODUCER_DIED, type StreamFailure } from './stream-errors';
import { STREAM_LOG, type LogSnapshot, type LogSubscription, type StreamLog, type StreamProducer } from './stream-log';
import type { StreamRecord } from './stream-record';
import { STREAM_RUNTIME, type StreamRuntime } from './stream-runtime';
import type { StreamSocket } from './stream-socket';
import { ReplayPacer } from './replay-pacer';
import { StreamWatcher } from './stream-watcher';

/** Told whenever a socket stops watching a stream (drain closes sockets with none left). */
export type WatchEndListener = (socket: StreamSocket) => void;

interface Running {
  stream: ChatStream;
  record: StreamRecord;
  span: StreamSpan;
  /** Set while its grace, over here, waits on the shared log for watchers on other replicas. */
  awaiting?: object;
}

/**
 * Every stream of this instance: it starts them (each a {@link ChatStream} writing into the
 * {@link StreamLog}), attaches the sockets that watch them — the one that asked, and any that resume
 * them later — and decides what happens when nobody watches: the resume grace, then abandon.
 * Cancel, resume and `stream.list` arrive here from any socket of the stream's principal. It also
 * writes the one log line per stream and feeds the stream metrics. Which log it is (in memory, or
 * replicated to other instances) is the module's choice: nothing here depends on it.
 */
@Injectable()
export class StreamManagerService implements OnModuleDestroy {
  private readonly running = new Map<string, Running>();
  private readonly detached: DetachedStreams;
  private readonly watchEndListeners: WatchEndListener[] = [];
  private readonly idle = new EmptySignal();
  /** Replays go out a page per socket per event-loop turn (issue 21 item 5). */
  private readonly pacer = new ReplayPacer();
  /** A drain without a shared log: graces end here, whatever other replicas may have had. */
  private abandoning = false;

  constructor(
    @Inject(STREAM_LOG) private readonly log: StreamLog,
    @Inject(STREAM_RUNTIME) private readonly runtime: StreamRuntime,
    private readonly upstream: HolySheepStreamService,
    private readonly metrics: MetricsService,
    private readonly tracing: TracingService,
    @InjectPinoLogger('Streams') private readonly logger: PinoLogger,
    @InjectConfig() private readonly config: GatewayConfig,
  ) {
    const { resume } = config;
    this.detached = new DetachedStreams(resume.graceMs, resume.maxDetachedPerPrincipal, (stream) => this.graceOver(stream));
    metrics.gauge('detached_streams', 'Streams running with no socket attached (in their resume grace)', () => this.detached.count);
  }

  /** Whether another replica can resume this instance's streams now (the log is shared, and reachable). */
  get sharedLogUp(): boolean {
    return this.log.shared;
  }

  /** Streams producing here (their upstream request is open). */
  get activeCount(): number {
    return this.running.size;
  }

  onWatchEnd(listener: WatchEndListener): void {
    this.watchEndListeners.push(listener);
  }

  /**
   * @param traceparent the client's own W3C trace context, to join its trace (optional).
   * @param format how the socket receives content deltas (`chat.request.format`).
   */
  start(socket: StreamSocket, id: string, request: UpstreamChatRequest, traceparent?: string, format: StreamFormat = 'json'): ChatStream {
    const streamId = `str_${randomUUID()}`;
    const principal = socket.principal;
    const runtime = this.runtime;
    const init = { id, streamId, principal, model: request.model, now: () => runtime.now(), totals: runtime.totals, maxDurationMs: this.config.limits.maxStreamDurationMs, compact: format === 'text' };
    let stream!: ChatStream;
    const span = this.tracing.startStream({ id, streamId, principal, model: request.model }, traceparent);
    const meta = { streamId, principal, requestId: id, model: request.model, startedAt: Date.now(), traceparent: span.traceparent };
    const producer: StreamProducer = {
      pause: () => stream.flow.pause(),
      resume: () => stream.flow.resume(),
      cancel: () => stream.cancel(),
      outOfRoom: () => {
        this.logger.warn({ event: 'stream_out_of_room', stream_id: streamId }, 'stream log over its total: a stream nobody reads was ended');
        this.abandon(stream);
      },
      fenced: () => {
        // Another instance ended this stream's log (this one's lease had lapsed): it cannot go on.
        this.logger.warn({ event: 'stream_fenced', stream_id: streamId }, 'stream ended elsewhere while this instance was cut off from the shared log');
        stream.abort(PRODUCER_DIED);
      },
    };
    const record = this.log.open(meta, producer);
    stream = new ChatStream(init, record, (ended) => this.ended(ended));
    this.running.set(streamId, { stream, record, span });
    this.metrics.streamStarted();
    this.logger.debug({ event: 'stream_started', id, stream_id: streamId, principal, model: request.model, messages: request.messages.length }, 'stream started');
    // Prompt contents are the users' data: only at trace level, for debugging.
    if (this.logger.logger.isLevelEnabled('trace')) this.logger.trace({ event: 'stream_request', stream_id: streamId, request }, 'stream request');
    this.watch(socket, streamId, id, format, (watcher) => record.follow(0, watcher)!);

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
   * `stream.resume`: replays the stream's frames after `after_seq` to this socket (paged, a page per
   * event-loop turn), then continues live. Only its principal may; a stream unknown, expired, or
   * partly gone is `stream_not_found`. Every resume is answered (issue 21 item 7): an ended stream
   * whose last seq is `after_seq` is `stream.complete`, one past it `bad_request`; past what a live
   * stream has logged, the watcher waits for the log to get there (`RESUME_WAIT_TIMEOUT_MS`).
   */
  async resume(socket: StreamSocket, frame: StreamResumeFrame): Promise<void> {
    const found = await this.log.find(frame.stream_id, socket.principal);
    const id = frame.id ?? found?.meta.requestId ?? frame.stream_id;
    if (found && socket.hasStream(id)) {
      return socket.reply({ type: 'error', code: 'duplicate_id', message: `A stream with id "${id}" is already active on this socket`, id });
    }
    const ended = found !== undefined && (found.state === 'done' || found.state === 'failed');
    if (ended && frame.after_seq >= found.lastSeq) return this.resumedPastEnd(socket, frame, id, found);
    const watcher = this.watcher(socket, frame.stream_id, id, frame.after_seq, frame.format);
    // Ahead of the log: read from where it is (so no log, here or in Redis, ever takes the client's
    // after_seq for its own position); the watcher skips up to after_seq.
    const ahead = found !== undefined && frame.after_seq > found.lastSeq;
    const subscription = found ? await this.log.follow(frame.stream_id, ahead ? found.lastSeq : frame.after_seq, watcher) : undefined;
    const result = subscription ? 'resumed' : 'not_found';
    this.resumeRecorded(socket, frame, id, result, found);
    if (!subscription) return socket.reply(notFound(frame, id));
    // The socket may have closed, or taken the id, while the log was read.
    if (!socket.transport.isOpen || socket.hasStream(id)) return subscription.close();
    if (found!.lastSeq > frame.after_seq) this.metrics.framesReplayed(found!.lastSeq - frame.after_seq);
    if (ahead) watcher.awaitLog(this.config.resume.waitTimeoutMs);
    this.attach(socket, watcher, subscription, true);
  }

  /** A resume of an ended stream from its last seq or past it: answered at once, nothing attached. */
  private resumedPastEnd(socket: StreamSocket, frame: StreamResumeFrame, id: string, found: LogSnapshot): void {
    this.resumeRecorded(socket, frame, id, 'resumed', found);
    if (frame.after_seq === found.lastSeq) {
      return socket.send({ type: 'stream.complete', id, stream_id: frame.stream_id, last_seq: found.lastSeq, state: found.state as 'done' | 'failed' });
    }
    if (found.state === 'failed') {
      // A client can only be past a failed stream's end when the log lost frames it was sent (a
      // crashed producer's last batch): it gets the stream's end at after_seq + 1, to it alone,
      // never logged, so it is not dropped as a duplicate and the log keeps its one terminal.
      const seq = frame.after_seq + 1;
      return socket.send({ type: 'chat.error', id, stream_id: frame.stream_id, seq, ...PRODUCER_DIED });
    }
    const message = `after_seq ${frame.after_seq} is past the stream's last seq ${found.lastSeq}`;
    socket.send({ type: 'chat.error', id, stream_id: frame.stream_id, code: 'bad_request', message, retryable: false });
  }

  /** The resume's metric, span and log line. */
  private resumeRecorded(socket: StreamSocket, frame: StreamResumeFrame, id: string, result: 'resumed' | 'not_found', found: LogSnapshot | undefined): void {
    this.metrics.streamResumed(result);
    this.tracing.startResume({ streamId: frame.stream_id, principal: socket.principal, afterSeq: frame.after_seq }, found?.meta.traceparent)(result);
    this.logger.info(
      { event: 'stream_resume', stream_id: frame.stream_id, id, principal: socket.principal, connection_id: socket.id, after_seq: frame.after_seq, result, last_seq: found?.lastSeq },
      'stream resume',
    );
  }

  /**
   * `chat.cancel`: the stream the socket calls `id`, wherever it runs — here, or on the replica
   * that owns it (the log tells its producer). Unknown ids are a no-op.
   */
  cancel(socket: StreamSocket, id: string): void {
    const streamId = socket.streamIdOf(id);
    if (streamId !== undefined) this.log.cancel(streamId);
  }

  /**
   * `stream.list`: this principal's streams that can be resumed, newest first. The log answers in
   * bounded time; when it could not read other replicas' streams in time, the answer lists this
   * instance's and says `partial`.
   */
  async list(socket: StreamSocket, id?: string): Promise<StreamListResultFrame> {
    const { streams, partial } = await this.log.list(socket.principal);
    return { type: 'stream.list.result', ...(id === undefined ? {} : { id }), streams, ...(partial ? { partial } : {}) };
  }

  /** A drain with a shared log: detached streams run on to their end, for other replicas to resume. */
  holdDetached(): void {
    this.detached.hold();
  }

  /** Writes what a shared log still lacks, and gives up this instance's claim on its streams (end of a drain). */
  releaseSharedLog(): Promise<void> {
    return this.log.release();
  }

  /** Ends every running stream with a gateway-side `chat.error` (used when drain time runs out). */
  abortAll(failure: StreamFailure): void {
    for (const { stream } of [...this.running.values()]) stream.abort(failure);
  }

  /** A drain without a shared log: streams nobody watches stop now, as will any detached later. */
  abandonDetached(): void {
    this.abandoning = true;
    for (const { stream, awaiting } of [...this.running.values()]) if (awaiting) this.abandon(stream);
    this.detached.abandonAll();
  }

  /** Resolves once no stream is running (at once if none is). */
  whenIdle(): Promise<void> {
    return this.idle.wait(this.running.size);
  }

  onModuleDestroy(): void {
    this.log.close();
  }

  private watcher(socket: StreamSocket, streamId: string, id: string, afterSeq: number, format: StreamFormat = 'json'): StreamWatcher {
    return new StreamWatcher(socket, streamId, id, afterSeq, this.pacer, (ended) => this.watchEnded(socket, ended), format);
  }

  /** The socket that asked for `streamId` watches it from the start, through the subscription `follow` makes for the watcher. */
  private watch(socket: StreamSocket, streamId: string, id: string, format: StreamFormat, follow: (watcher: StreamWatcher) => LogSubscription): void {
    const watcher = this.watcher(socket, streamId, id, 0, format);
    this.attach(socket, watcher, follow(watcher));
  }

  /** The socket now watches the stream: delivery starts (the subscription was created paused), in a pacer turn for a replay. */
  private attach(socket: StreamSocket, watcher: StreamWatcher, subscription: LogSubscription, paced = false): void {
    socket.streamStarted(watcher.id, watcher.streamId, watcher);
    const running = this.running.get(watcher.streamId);
    if (running) {
      running.awaiting = undefined;
      this.detached.attached(running.stream);
    }
    watcher.attach(subscription, paced);
  }

  private watchEnded(socket: StreamSocket, watcher: StreamWatcher): void {
    socket.streamEnded(watcher.id, watcher);
    const running = this.running.get(watcher.streamId);
    if (running && running.record.readerCount === 0) {
      this.detached.detached(running.stream);
      this.log.detached?.(watcher.streamId);
    }
    for (const listener of this.watchEndListeners) listener(socket);
  }

  /**
   * The grace ran out here. With a shared log a socket on another replica may be watching the
   * stream, or have left it later than this one: the log says when nobody has watched it
   * anywhere for a grace (and never while it cannot tell), and only then is it abandoned.
   */
  private graceOver(stream: ChatStream): void {
    const running = this.running.get(stream.streamId);
    if (!stream.active || !running) return;
    if (!this.log.unwatched || this.abandoning) return this.abandon(stream);
    const awaiting = (running.awaiting = {});
    void this.log.unwatched(stream.streamId, this.config.resume.graceMs).then((unwatched) => {
      if (unwatched && running.awaiting === awaiting && running.record.readerCount === 0) this.abandon(stream);
    });
  }

  private abandon(stream: ChatStream): void {
    if (!stream.active) return;
    const running = this.running.get(stream.streamId);
    if (running) running.awaiting = undefined;
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
    const now = this.runtime.now();
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
