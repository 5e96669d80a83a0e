import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const METRIC_PREFIX = 'holysheep_gateway_';

/** Why the gateway's sockets closed: the `reason` label of `sockets_closed_total`. */
export type CloseReasonLabel = 'client' | 'heartbeat' | 'idle' | 'drain' | 'slow' | 'limit' | 'auth' | 'error';

/**
 * Prometheus metrics, on a registry of this app's own (not prom-client's global one), so several
 * app instances in one test process never collide. Names follow Prometheus conventions: one
 * prefix, base units (`_seconds`, `_bytes`), `_total` on counters. Per-chunk figures are plain
 * integer adds on the hot path (`RelayTotals`), read at scrape time.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  private readonly streamsEnded = this.counter('streams_total', 'Streams ended, by outcome: a finish_reason, an error code, or abandoned (client gone)', ['outcome']);
  private readonly socketsClosed = this.counter('sockets_closed_total', 'Client sockets closed, by reason', ['reason']);
  private readonly upstreamRetries = this.counter('upstream_retries_total', 'Upstream attempts repeated before the first chunk, by kind (retry or fallback)', ['kind']);
  private readonly rateLimitedTotal = this.counter('rate_limited_total', 'Requests or frames refused by a rate limit, by scope (request or frame)', ['scope']);
  private readonly resumes = this.counter('stream_resumes_total', 'stream.resume requests, by result (resumed, not_found)', ['result']);
  private readonly replayedFrames = new Counter({ name: `${METRIC_PREFIX}replayed_frames_total`, help: 'Frames sent again by stream.resume', registers: [this.registry] });
  private readonly graceAborts = new Counter({
    name: `${METRIC_PREFIX}grace_aborts_total`,
    help: 'Streams whose upstream was aborted because no socket came back within RESUME_GRACE_MS (or the per-principal cap of detached streams)',
    registers: [this.registry],
  });
  private readonly redisErrors = this.counter('redis_errors_total', 'Failed Redis operations, by operation (the gateway fell back to working alone)', ['operation']);
  private readonly logBatches = new Counter({ name: `${METRIC_PREFIX}stream_log_batches_total`, help: 'Pipelined writes of stream frames to Redis', registers: [this.registry] });
  private readonly logBatchEntries = new Counter({ name: `${METRIC_PREFIX}stream_log_entries_total`, help: 'Redis stream entries written (one per stream per batch window)', registers: [this.registry] });
  private readonly logBatchFrames = new Counter({ name: `${METRIC_PREFIX}stream_log_frames_total`, help: 'Frames written to Redis', registers: [this.registry] });
  private readonly activeStreams = new Gauge({ name: `${METRIC_PREFIX}active_streams`, help: 'Streams currently relaying', registers: [this.registry] });
  private readonly timeToFirstChunk = this.histogram(
    'time_to_first_chunk_seconds',
    'From chat.request to the first chunk relayed',
    [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32],
  );
  private readonly streamDuration = this.histogram('stream_duration_seconds', 'From chat.request to the terminal frame', [0.5, 1, 2, 5, 10, 20, 40, 80, 160, 320, 640]);
  private readonly upstreamHeaders = this.histogram(
    'upstream_response_header_seconds',
    'From sending an upstream request to its response headers',
    [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
  );

  /**
   * Nothing to inject: every owner registers the figures it keeps ({@link gauge},
   * {@link runningTotal}, {@link constant}), so this module reads no other one.
   */
  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
  }

  streamStarted(): void {
    this.activeStreams.inc();
  }

  streamEnded(outcome: string, durationSeconds: number, timeToFirstChunkSeconds: number | undefined): void {
    this.activeStreams.dec();
    this.streamsEnded.inc({ outcome });
    this.streamDuration.observe(durationSeconds);
    if (timeToFirstChunkSeconds !== undefined) this.timeToFirstChunk.observe(timeToFirstChunkSeconds);
  }

  socketClosed(reason: CloseReasonLabel): void {
    this.socketsClosed.inc({ reason });
  }

  upstreamRetried(kind: 'retry' | 'fallback'): void {
    this.upstreamRetries.inc({ kind });
  }

  upstreamResponded(latencySeconds: number): void {
    this.upstreamHeaders.observe(latencySeconds);
  }

  /** A `stream.resume`, by result. */
  streamResumed(result: 'resumed' | 'not_found'): void {
    this.resumes.inc({ result });
  }

  /** Frames a resume sent again (those after its `after_seq` already logged). */
  framesReplayed(count: number): void {
    this.replayedFrames.inc(count);
  }

  /** A stream nobody came back to within its grace: its upstream was aborted. */
  streamAbandoned(): void {
    this.graceAborts.inc();
  }

  /** A Redis command or connection failed (the gateway fell back to what it can do alone). */
  redisError(operation: string): void {
    this.redisErrors.inc({ operation });
  }

  /** One write of stream frames to Redis: how many streams' batches it carried, and their frames. */
  logBatch(entries: number, frames: number): void {
    this.logBatches.inc();
    this.logBatchEntries.inc(entries);
    this.logBatchFrames.inc(frames);
  }

  /** A gauge read at scrape time from whoever owns the value (no call on the hot path). */
  gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name: `${METRIC_PREFIX}${name}`,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  rateLimited(scope: 'request' | 'frame' | 'resume'): void {
    this.rateLimitedTotal.inc({ scope });
  }

  /**
   * A counter fed at scrape time from a running total its owner keeps outside prom-client, because
   * it changes on every frame (see `RelayTotals`): `read` must only ever grow.
   */
  runningTotal(name: string, help: string, read: () => number): void {
    let seen = 0;
    new Counter({
      name: `${METRIC_PREFIX}${name}`,
      help,
      registers: [this.registry],
      collect() {
        const now = read();
        this.inc(now - seen);
        seen = now;
      },
    });
  }

  /**
   * A gauge that never changes: a configured value, so alerts and dashboards compare usage with
   * it (`open_connections / config_max_connections`) instead of a number copied from the
   * ConfigMap that drifts when the ConfigMap changes.
   */
  constant(name: string, help: string, value: number): void {
    new Gauge({ name: `${METRIC_PREFIX}${name}`, help, registers: [this.registry] }).set(value);
  }

  /** A counter its owner increments itself (registered once per name on this registry). */
  labelledCounter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
    return this.counter(name, help, labelNames);
  }

  private counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
    return new Counter({ name: `${METRIC_PREFIX}${name}`, help, labelNames, registers: [this.registry] });
  }

  private histogram(name: string, help: string, buckets: number[]): Histogram {
    return new Histogram({ name: `${METRIC_PREFIX}${name}`, help, buckets, registers: [this.registry] });
  }
}
