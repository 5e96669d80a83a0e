import { UpstreamError } from './upstream.errors';

export interface ChunkWatchdogTimeouts {
  /** Longest wait for the first chunk (`UPSTREAM_FIRST_CHUNK_TIMEOUT_MS`). */
  firstChunkTimeoutMs: number;
  /** Longest silence between two chunks (`UPSTREAM_STALL_TIMEOUT_MS`). */
  stallTimeoutMs: number;
}

/**
 * The two liveness timers of one upstream body, as one timer at a time: "no first chunk yet",
 * then "no chunk for too long". Between chunks {@link chunk} re-arms it with `refresh()`, which
 * allocates nothing: it runs once per relayed chunk.
 *
 * While paused (backpressure) nothing runs: a body that is not being read is the client's
 * slowness, not the upstream's. {@link resume} starts the current phase's full timeout again.
 */
export class ChunkWatchdog {
  private timer: NodeJS.Timeout | undefined;
  private sawChunk = false;
  private paused = false;
  private stopped = false;
  private readonly firstChunkMissed = () =>
    this.expire(new UpstreamError('first_chunk_timeout', `No first chunk within ${this.timeouts.firstChunkTimeoutMs} ms`));
  private readonly stalled = () =>
    this.expire(new UpstreamError('stall_timeout', `No chunk for ${this.timeouts.stallTimeoutMs} ms`, { afterFirstChunk: true }));

  constructor(
    private readonly timeouts: ChunkWatchdogTimeouts,
    private readonly onTimeout: (error: UpstreamError) => void,
  ) {}

  /** Starts the first-chunk timeout (the request has been sent). */
  start(): void {
    if (!this.stopped && !this.paused) this.arm();
  }

  /** A chunk arrived: switch to the stall timeout after the first, then push it back. */
  chunk(): void {
    if (this.sawChunk) {
      // Undefined while paused or stopped, so a chunk already read then does not re-arm it.
      this.timer?.refresh();
      return;
    }
    this.sawChunk = true;
    if (!this.stopped && !this.paused) this.arm();
  }

  pause(): void {
    this.paused = true;
    this.clear();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.stopped) this.arm();
  }

  /** The body is over (or the attempt failed): no timer ever again. */
  stop(): void {
    this.stopped = true;
    this.clear();
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = this.sawChunk
      ? setTimeout(this.stalled, this.timeouts.stallTimeoutMs)
      : setTimeout(this.firstChunkMissed, this.timeouts.firstChunkTimeoutMs);
  }

  /** A fired timer would come back to life on refresh(): it is dropped before anyone is told. */
  private expire(error: UpstreamError): void {
    this.timer = undefined;
    this.onTimeout(error);
  }

  private clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
