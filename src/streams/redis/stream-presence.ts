import { tag } from '../../redis/hash-tags';
import { KEY_PREFIX, type RedisService } from '../../redis/redis.service';

/**
 * Per stream, the replicas whose sockets watch it from Redis: a sorted set, member = instance,
 * score = until when (ms since epoch) that instance promises it watches, or when it stopped.
 */
export const presenceKey = (streamId: string) => `${KEY_PREFIX}w:${tag(streamId)}`;

/** A wait that does not keep the process up (a drain ends the waits it needs by itself). */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());

/**
 * Who watches a stream on another replica, so that its owner counts them: a stream is attached
 * while any socket on any replica watches it, and its resume grace starts when the last one
 * anywhere leaves (issue 21, item 1).
 *
 * - **Watching replica.** While its sockets follow a stream from Redis it keeps, in the stream's
 *   presence set, a promise "watched until now + `INSTANCE_LEASE_MS`", renewed every third of it
 *   for all its followed streams in one pipeline; when its last socket leaves it writes "left at
 *   now". Two commands (ZADD, PEXPIRE) per followed stream per renewal, on joining and on leaving.
 * - **Owner.** Nothing while a socket of its own watches. When the grace it ran locally is over it
 *   reads the set's highest score (one command), then once per renewal period while the stream
 *   is watched elsewhere or the grace counted from the last departure is not over.
 * - **Redis unreachable.** An owner that cannot read the set keeps the stream: the grace counts
 *   only time in which it could tell that nobody watched (after an outage it starts over).
 *
 * Scores are wall-clock times of the writing replica: pods' clocks (NTP) agree far better than the
 * lease, which is the margin a promise has.
 */
export class StreamPresence {
  private readonly watched = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  /** When Redis last came back (the grace counts from then at the earliest). */
  private upSince = 0;
  private closed = false;

  constructor(
    private readonly redis: RedisService,
    /** This instance, as presence sets name it. */
    private readonly instance: string,
    /** `INSTANCE_LEASE_MS`: how long a promise to watch holds without renewal. */
    private readonly ttlMs: number,
    /** `RESUME_GRACE_MS`: how long a departure must stay readable after it. */
    private readonly graceMs: number,
  ) {
    redis.onUp(() => {
      this.upSince = Date.now();
      this.renew();
    });
  }

  private get everyMs(): number {
    return Math.max(100, Math.floor(this.ttlMs / 3));
  }

  /** This instance's sockets now watch `streamId` (produced elsewhere): said at once, then renewed. */
  watch(streamId: string): void {
    if (this.watched.has(streamId)) return;
    this.watched.add(streamId);
    this.write([streamId], Date.now() + this.ttlMs);
    this.timer ??= setInterval(() => this.renew(), this.everyMs);
    this.timer.unref();
  }

  /** They no longer do; `left`: say when (false when the stream ended or its owner died: nobody asks). */
  unwatch(streamId: string, left = true): void {
    if (!this.watched.delete(streamId)) return;
    if (left) this.write([streamId], Date.now());
    if (this.watched.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /**
   * For the owner of `streamId`, its local grace over: resolves true once nobody has watched it
   * anywhere for `graceMs`, as far as Redis tells (never while it cannot tell); false once
   * `waiting()` says it no longer needs deciding.
   */
  async unwatched(streamId: string, graceMs: number, waiting: () => boolean): Promise<boolean> {
    /** Until when this owner could not tell: the grace counts from then at the earliest. */
    let blindUntil = 0;
    while (waiting() && !this.closed) {
      const sentAt = Date.now();
      let last: number | undefined;
      try {
        if (!this.redis.up) throw new Error('redis is down');
        last = await this.lastWatched(streamId);
      } catch (error) {
        if (this.redis.up) this.redis.failed('presence', error);
        blindUntil = Date.now();
        await sleep(this.everyMs);
        continue;
      }
      const now = Date.now();
      // An answer slower than a renewal period (a frozen or partitioned Redis): blind meanwhile.
      if (now - sentAt > this.everyMs) blindUntil = now;
      blindUntil = Math.max(blindUntil, this.upSince);
      const deadline = last !== undefined && last > now ? Infinity : Math.max(last ?? 0, blindUntil) + graceMs;
      if (deadline <= now) return waiting();
      await sleep(Math.min(deadline - now, this.everyMs));
    }
    return false;
  }

  /**
   * For the owner of `streamId`, while `waiting()`: resolves true as soon as a socket on another
   * replica watches it (its promise to watch runs into the future), reading once per renewal
   * period; false once `waiting()` no longer holds. A Redis that does not answer is read again.
   */
  async watchedElsewhere(streamId: string, waiting: () => boolean): Promise<boolean> {
    while (waiting() && !this.closed) {
      try {
        if (this.redis.up && ((await this.lastWatched(streamId)) ?? 0) > Date.now()) return waiting();
      } catch (error) {
        this.redis.failed('presence', error);
      }
      await sleep(this.everyMs);
    }
    return false;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The highest score of the stream's presence set: until when someone watches, or when the last one left. */
  private async lastWatched(streamId: string): Promise<number | undefined> {
    const top = await this.redis.bounded(this.redis.client!.zrevrange(presenceKey(streamId), 0, 0, 'WITHSCORES'), 'presence');
    return top.length === 2 ? Number(top[1]) : undefined;
  }

  private renew(): void {
    if (this.watched.size > 0) this.write([...this.watched], Date.now() + this.ttlMs);
  }

  /** Sets this instance's score in each stream's set; the set outlives it by a grace (a departure must be read). */
  private write(streamIds: string[], score: number): void {
    if (!this.redis.up) return;
    const pipeline = this.redis.pipeline();
    for (const streamId of streamIds) {
      pipeline.zadd(presenceKey(streamId), score, this.instance).pexpire(presenceKey(streamId), this.ttlMs + this.graceMs);
    }
    this.redis.bounded(pipeline.exec(), 'presence').catch((error) => this.redis.failed('presence', error));
  }
}
