import { withDeadline } from '../../async/race-timeout';
import type { RedisService } from '../../redis/redis.service';
import { isTerminal, type FramePrefixes } from '../record-frame';
import type { StreamMeta } from '../stream-log';
import { parseEntries, streamKey, type RawEntry } from './redis-log-format';
import type { RedisSubscription } from './redis-subscription';
import type { StreamOwnership } from './stream-ownership';
import type { StreamPresence } from './stream-presence';

/** How long one blocking read waits for new entries before the loop looks around again. */
const BLOCK_MS = 1_000;
/** How often the owners of followed streams are checked for a lapsed lease. */
const OWNER_CHECK_MS = 1_000;
/** After a failed read, how long before trying again. */
const RETRY_MS = 500;
/**
 * The longest one read of the followed streams may take before it is given up (and, after
 * {@link RETRY_MS}, sent again). A blocking XREAD answers within {@link BLOCK_MS}, but one in flight
 * when its connection dropped (a failover) may never settle: ioredis re-queues an interrupted
 * command on a connection with `maxRetriesPerRequest: null` instead of rejecting it (ioredis#1285),
 * and every watcher here would wait on it for good (seen in CI: a Sentinel failover's watcher stuck).
 */
export const FOLLOW_READ_DEADLINE_MS = BLOCK_MS + 2_000;
/** On a Cluster, the shortest wait between two polls (the batch window is the usual one). */
const MIN_POLL_MS = 20;

interface Followed {
  /** The last entry id read. */
  cursor: string;
  lastSeq: number;
  /** Its owner and request id. */
  meta: StreamMeta;
  /** Its meta is in a hash (`RedisSubscriptionOptions.hashed`). */
  hashed: boolean;
  /** Those of its request id: what its logged frames start with. */
  prefixes: FramePrefixes;
  subscriptions: Set<RedisSubscription>;
}

/**
 * Follows, live, the streams this instance's sockets watch but another instance produces: one
 * blocking XREAD over all of them on a connection of its own, so many watchers cost one read
 * loop. On a Redis Cluster the keys of one XREAD must share a slot, and a blocking read holds its
 * node connection: there it polls instead, one non-blocking XREAD per followed stream per batch
 * window (`STREAM_LOG_BATCH_MS`, when the writers write), sent as one pipeline per node. Cost:
 * per instance, one XREAD per followed stream per window while followed, even when idle, and up
 * to one window more latency for frames read there — paid only for streams watched on a replica
 * other than their owner's. It also watches their producers: a stream whose owner's lease is gone is ended for its
 * watchers ({@link StreamOwnership.endOrphaned}), so nobody waits forever for a producer that died.
 * While it follows a stream its owner is told, through {@link StreamPresence}, that a socket here
 * watches it: the owner's resume grace waits for the last watcher anywhere.
 */
export class RedisFollower {
  private readonly streams = new Map<string, Followed>();
  private looping = false;
  private closed = false;
  private blocked = false;
  private readerId: number | undefined;
  private lastOwnerCheck = 0;

  /** Ends the wait between two polls on a Cluster (a stream was added, or closing). */
  private wake: (() => void) | undefined;

  constructor(
    private readonly redis: RedisService,
    private readonly ownership: StreamOwnership,
    private readonly presence: StreamPresence,
    /** `STREAM_LOG_BATCH_MS`: on a Cluster, how often followed streams are polled. */
    private readonly pollMs: number = MIN_POLL_MS,
  ) {
    // A reconnect (an outage, a Sentinel failover) is a new client with a new id: ask again, or UNBLOCK misses it.
    redis.reader?.on('ready', () => (this.readerId = undefined));
  }

  /** Delivers `subscription` every frame logged after `cursor` from now on. */
  add(subscription: RedisSubscription, cursor: string, lastSeq: number): void {
    let followed = this.streams.get(subscription.streamId);
    if (!followed) {
      followed = { cursor, lastSeq, meta: subscription.meta, hashed: subscription.options.hashed, prefixes: subscription.prefixes, subscriptions: new Set() };
      this.streams.set(subscription.streamId, followed);
      this.presence.watch(subscription.streamId);
      // A new key for the blocking read: wake it so it is read from now on.
      this.unblock();
    }
    followed.subscriptions.add(subscription);
    this.lastOwnerCheck = 0;
    void this.loop();
  }

  remove(subscription: RedisSubscription): void {
    const followed = this.streams.get(subscription.streamId);
    if (!followed) return;
    followed.subscriptions.delete(subscription);
    if (followed.subscriptions.size === 0) this.forget(subscription.streamId, true);
  }

  /** Stops following a stream; `left`: its last watcher here left (the owner counts from now), rather than it ended. */
  private forget(streamId: string, left: boolean): void {
    this.streams.delete(streamId);
    this.presence.unwatch(streamId, left);
  }

  ownerOf(streamId: string): string | undefined {
    return this.streams.get(streamId)?.meta.owner;
  }

  close(): void {
    this.closed = true;
    this.presence.close();
    this.unblock();
  }

  private unblock(): void {
    this.wake?.();
    if (this.blocked && this.readerId !== undefined && this.redis.up) {
      this.redis.client!.client('UNBLOCK', this.readerId).catch(() => undefined);
    }
  }

  private async loop(): Promise<void> {
    if (this.looping) return;
    this.looping = true;
    try {
      while (!this.closed && this.streams.size > 0) {
        try {
          await this.readOnce();
          if (Date.now() - this.lastOwnerCheck >= OWNER_CHECK_MS) await this.checkOwners();
        } catch (error) {
          this.redis.failed('follow', error);
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        }
      }
    } finally {
      this.looping = false;
    }
  }

  private async readOnce(): Promise<void> {
    if (this.redis.cluster) return this.pollOnce();
    const reader = this.redis.reader!;
    // Bounded like the read itself: CLIENT ID is as likely to be caught by a failover.
    this.readerId ??= (await withDeadline(reader.client('ID'), FOLLOW_READ_DEADLINE_MS, 'follow read')) as number;
    const ids = [...this.streams.keys()];
    const keys = ids.map(streamKey);
    const cursors = ids.map((id) => this.streams.get(id)!.cursor);
    this.blocked = true;
    let result: Array<[string, RawEntry[]]> | null;
    try {
      const read = reader.xread('COUNT', 1000, 'BLOCK', BLOCK_MS, 'STREAMS', ...keys, ...cursors) as Promise<Array<[string, RawEntry[]]> | null>;
      result = await withDeadline(read, FOLLOW_READ_DEADLINE_MS, 'follow read');
    } finally {
      this.blocked = false;
    }
    for (const [key, entries] of result ?? []) this.deliver(ids[keys.indexOf(key)]!, entries);
  }

  /** On a Cluster: one non-blocking XREAD per followed stream (per node, one pipeline), then a wait if none had news. */
  private async pollOnce(): Promise<void> {
    const ids = [...this.streams.keys()];
    const pipeline = this.redis.pipeline(this.redis.reader!);
    for (const id of ids) pipeline.xread('COUNT', 1000, 'STREAMS', streamKey(id), this.streams.get(id)!.cursor);
    const results = (await withDeadline(pipeline.exec(), FOLLOW_READ_DEADLINE_MS, 'follow poll')) ?? [];
    let news = false;
    results.forEach(([error, result], i) => {
      if (error) throw error;
      const entries = (result as Array<[string, RawEntry[]]> | null)?.[0]?.[1] ?? [];
      news ||= entries.length > 0;
      this.deliver(ids[i]!, entries);
    });
    if (news || this.closed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(MIN_POLL_MS, this.pollMs));
      this.wake = () => (clearTimeout(timer), resolve());
    });
    this.wake = undefined;
  }

  /** Hands a followed stream's new entries to its subscriptions. */
  private deliver(streamId: string, entries: RawEntry[]): void {
    const followed = this.streams.get(streamId);
    if (!followed || entries.length === 0) return;
    followed.cursor = entries.at(-1)![0];
    for (const frame of parseEntries(entries, followed.prefixes)) {
      if (frame.seq <= followed.lastSeq) continue;
      followed.lastSeq = frame.seq;
      for (const subscription of [...followed.subscriptions]) subscription.offer(frame);
      if (isTerminal(frame.type)) this.forget(streamId, false);
    }
  }

  /** Ends, for their watchers, the followed streams whose producer's lease is gone. */
  private async checkOwners(): Promise<void> {
    this.lastOwnerCheck = Date.now();
    if (this.streams.size === 0) return;
    const dead = await this.ownership.dead([...this.streams.values()].map((f) => f.meta.owner));
    for (const [streamId, followed] of [...this.streams]) {
      const { owner, requestId } = followed.meta;
      if (!dead.has(owner)) continue;
      if (!(await this.ownership.endOrphaned(streamId, requestId, followed.lastSeq, followed.hashed))) continue;
      this.forget(streamId, false);
      for (const subscription of followed.subscriptions) subscription.producerDied();
    }
  }
}
