import { TokenBucket } from './token-bucket';

/** A flood that lasts this long (frames still being dropped) closes the socket with 4429. */
const SUSTAINED_FLOOD_MS = 3_000;
/** At most one `rate_limited` error frame per this interval, so a flood is not echoed back. */
const WARN_EVERY_MS = 1_000;

export type FloodVerdict = 'accept' | 'drop' | 'drop-and-warn' | 'close';

/**
 * Caps inbound frames per socket (`MAX_FRAMES_PER_SECOND`, bursts up to one second's worth).
 * Frames over the cap are dropped unprocessed; the client hears `rate_limited` at most once a
 * second; a flood still going after {@link SUSTAINED_FLOOD_MS} closes the socket.
 */
export class FrameFloodGuard {
  private readonly bucket: TokenBucket;
  private floodStartedAt: number | undefined;
  private lastDropAt = 0;
  private lastWarnAt = -Infinity;

  constructor(framesPerSecond: number, now: number) {
    this.bucket = new TokenBucket(framesPerSecond, 1_000, now);
  }

  check(now: number): FloodVerdict {
    if (this.bucket.take(now) === 0) {
      // A full second without drops ends the flood.
      if (this.floodStartedAt !== undefined && now - this.lastDropAt > 1_000) this.floodStartedAt = undefined;
      return 'accept';
    }
    if (this.floodStartedAt === undefined || now - this.lastDropAt > 1_000) this.floodStartedAt = now;
    this.lastDropAt = now;
    if (now - this.floodStartedAt >= SUSTAINED_FLOOD_MS) return 'close';
    if (now - this.lastWarnAt >= WARN_EVERY_MS) {
      this.lastWarnAt = now;
      return 'drop-and-warn';
    }
    return 'drop';
  }
}
