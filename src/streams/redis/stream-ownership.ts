import { randomUUID } from 'node:crypto';
import { tag } from '../../redis/hash-tags';
import { KEY_PREFIX, type RedisService } from '../../redis/redis.service';
import { FramePrefixes, restOf } from '../record-frame';
import { PRODUCER_DIED } from '../stream-errors';
import { metaKey, streamKey } from './redis-log-format';

const leaseKey = (instance: string) => `${KEY_PREFIX}lease:${instance}`;
/** The owner's cancel channel; on a Cluster a sharded one (SPUBLISH / SSUBSCRIBE), in the slot of `{<instance>}`. */
const cancelChannel = (instance: string) => `${KEY_PREFIX}cancel:${tag(instance)}`;
/** After a refused SSUBSCRIBE, how long before asking again. */
const SUBSCRIBE_RETRY_MS = 500;

/**
 * Who owns which stream across replicas, and so who may end it: one concern, in one place.
 *
 * - **Lease.** Each instance renews `hsg:lease:<instance>` (TTL `INSTANCE_LEASE_MS`) every third of
 *   it. A stream's log names its owner; a reader that finds the owner's lease missing across its
 *   checks for longer than a lease knows the producer died (SIGKILL, OOM, node loss) and ends the
 *   stream for its watchers ({@link endOrphaned}). One look is not enough: a FLUSHALL, an eviction
 *   or a failover that lost keys takes a live owner's lease too, and the owner sets it again
 *   within a third of a lease; it is then told ({@link onLeaseLost}) to check its streams' logs.
 * - **Fencing.** An owner cut off from Redis past its lease stops writing its streams' logs
 *   ({@link canWrite}): a reader declares it dead only later still. Its log writes also carry
 *   entry ids derived from seq, so a write after a reader ended the stream is refused by Redis
 *   ({@link isIdTaken}; the writer then tells its own entry from another's), and so is an end
 *   written after the owner wrote more (then it is alive).
 * - **Cancel.** `chat.cancel` for a stream owned elsewhere is published on the owner's channel;
 *   the owner cancels its producer. On a Cluster the channel is sharded (SPUBLISH / SSUBSCRIBE):
 *   a message goes only to the nodes of its slot, not to the whole cluster, as PUBLISH would.
 *   The owner subscribes at start, before it owns a stream, so a cancel cannot precede its
 *   subscription; one published while the owner's slot fails over (ioredis subscribes again on
 *   the new primary) can be lost, as any pub/sub message: the client's `chat.cancel` is then
 *   answered by nothing and it may send it again.
 */
export class StreamOwnership {
  /** This instance, as stream logs name their owner. */
  readonly instance = `gw_${randomUUID()}`;
  /** Until when (local clock) this instance's lease is known to hold. */
  private validUntil = 0;
  private renewer: NodeJS.Timeout | undefined;
  private onCancel: ((streamId: string) => void) | undefined;
  /** Whether the last renewal set the lease (so a renewal that finds none means it was lost). */
  private held = false;
  private readonly leaseLost: Array<() => void> = [];
  /** Owners whose lease a check found missing: since when (local clock), and when last checked. */
  private readonly missing = new Map<string, { since: number; checkedAt: number }>();
  private stopped = false;
  /** An SSUBSCRIBE (or its retry) is under way: renewals do not start another. */
  private subscribing = false;

  constructor(
    private readonly redis: RedisService,
    private readonly leaseMs: number,
    /** `STREAM_RETENTION_MS`: how long an ended stream's keys stay. */
    private readonly retentionMs: number,
  ) {}

  /**
   * Starts renewing the lease and listening for cancels; `cancel` cancels a stream owned here.
   * @returns resolves once the lease is first held (when Redis is up; later renewals retry)
   */
  start(cancel: (streamId: string) => void): Promise<void> {
    this.onCancel = cancel;
    const subscriber = this.redis.subscriber!;
    const channel = cancelChannel(this.instance);
    if (this.redis.cluster) {
      subscriber.on('smessage', (_channel: string, streamId: string) => this.onCancel?.(streamId));
      this.shardedSubscribe(channel);
    } else {
      subscriber.on('message', (_channel: string, streamId: string) => this.onCancel?.(streamId));
      subscriber.subscribe(channel).catch((error) => this.redis.failed('subscribe', error));
    }
    this.renewer = setInterval(() => {
      void this.renew();
      // ioredis moves a sharded subscription with its slot, but a failover can drop one caught
      // mid-move (seen in test/e2e/redis-cluster.e2e-spec.ts: cancels lost for good), and nothing
      // else would restore it. SSUBSCRIBE to a channel already held is a no-op: one command a renewal.
      if (this.redis.cluster) this.shardedSubscribe(channel);
      // So is SUBSCRIBE; it is the only command the subscriber connection sends, so it is what
      // finds that connection hung (a primary frozen for good: its socket timeout closes it, and
      // ioredis subscribes again on the primary the Sentinels name now). Else cancels stop arriving.
      else subscriber.subscribe(channel).catch((error) => this.redis.failed('subscribe', error));
    }, Math.max(100, Math.floor(this.leaseMs / 3)));
    this.renewer.unref();
    return new Promise((resolve) => this.redis.onUp(() => void this.renew().then(resolve)));
  }

  /**
   * SSUBSCRIBE to this instance's cancel channel, again until it holds: ioredis refuses it while it
   * has no subscriber for the channel's slot yet (a Cluster still starting), and does not retry a
   * refused one. Once it holds, ioredis moves it with the slot (failover, resharding).
   */
  private shardedSubscribe(channel: string): void {
    if (this.stopped || this.subscribing) return;
    this.subscribing = true;
    this.redis.subscriber!.ssubscribe(channel).then(
      () => (this.subscribing = false),
      (error) => {
        this.redis.failed('subscribe', error);
        setTimeout(() => {
          this.subscribing = false;
          this.shardedSubscribe(channel);
        }, SUBSCRIBE_RETRY_MS).unref();
      },
    );
  }

  /** Whether this instance may still write its streams' logs (its lease has not lapsed). */
  canWrite(now = Date.now()): boolean {
    return now < this.validUntil;
  }

  /**
   * Whether Redis refused a log write because its entry id is taken: another writer got there
   * first, or this one did (a write whose reply was lost). Only the entry itself tells which.
   */
  isIdTaken(error: unknown): boolean {
    return error instanceof Error && /equal or smaller than the target stream top item/i.test(error.message);
  }

  /** `listener` runs when a renewal finds this instance's lease gone (flushed, evicted, or lapsed). */
  onLeaseLost(listener: () => void): void {
    this.leaseLost.push(listener);
  }

  /**
   * Of `instances`, those whose lease has been missing at every check for longer than a lease
   * (their streams' producers are dead). A lease seen once missing is not enough: its owner may
   * be setting it again after a flush.
   */
  async dead(instances: string[]): Promise<Set<string>> {
    const unique = [...new Set(instances)];
    const pipeline = this.redis.pipeline();
    for (const instance of unique) pipeline.exists(leaseKey(instance));
    const results = (await this.redis.bounded(pipeline.exec(), 'owner check')) ?? [];
    const now = Date.now();
    const dead = new Set<string>();
    results.forEach(([error, exists], i) => {
      if (error) throw error;
      const instance = unique[i]!;
      if (exists !== 0) return void this.missing.delete(instance);
      const seen = this.missing.get(instance) ?? { since: now, checkedAt: now };
      // Not checked for a long while: what happened meanwhile is unknown, so it counts from now.
      if (now - seen.checkedAt > 10 * this.leaseMs) seen.since = now;
      seen.checkedAt = now;
      this.missing.set(instance, seen);
      if (now - seen.since > this.leaseMs) dead.add(instance);
    });
    return dead;
  }

  /**
   * Ends a stream's log whose producer can no longer write it (its lease is gone, or its own
   * record lost frames Redis never got) with one terminal, at the seq after the last logged frame.
   * The entry id makes this refused if the producer wrote more meanwhile: false then (it is alive).
   * `hashed`: its meta is in a hash, which gets the end state too (what the release before reads);
   * in log format 2 the terminal is the state, and no hash is made for it.
   */
  async endOrphaned(streamId: string, requestId: string, lastSeq: number, hashed: boolean): Promise<boolean> {
    const seq = lastSeq + 1;
    const json = new FramePrefixes(requestId).render({ seq, type: 'chat.error', rest: restOf({ stream_id: streamId, seq, ...PRODUCER_DIED }) });
    const retention = Math.max(1, this.retentionMs);
    try {
      await this.redis.bounded(this.redis.client!.xadd(streamKey(streamId), `${seq}-0`, String(seq), json), 'end orphaned');
    } catch (error) {
      if (this.isIdTaken(error)) return false;
      throw error;
    }
    const pipeline = this.redis.client!.pipeline();
    if (hashed) pipeline.hset(metaKey(streamId), { state: 'failed', last_seq: String(seq) }).pexpire(metaKey(streamId), retention);
    await this.redis.bounded(pipeline.pexpire(streamKey(streamId), retention).exec(), 'end orphaned');
    return true;
  }

  /** Asks the owner of `streamId` to cancel it. */
  async cancel(owner: string, streamId: string): Promise<void> {
    const client = this.redis.client!;
    await this.redis.bounded(this.redis.cluster ? client.spublish(cancelChannel(owner), streamId) : client.publish(cancelChannel(owner), streamId), 'cancel');
  }

  /** Drops the lease (after a drain: nothing of ours is running any more). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.renewer);
    this.validUntil = 0;
    this.held = false;
    if (this.redis.up) await this.redis.bounded(this.redis.client!.del(leaseKey(this.instance)), 'lease').catch(() => undefined);
  }

  private async renew(): Promise<void> {
    if (!this.redis.up) return;
    // Counted from before the round trip: the lease may have been set any time after this.
    const sentAt = Date.now();
    try {
      // GET: the value it replaced, so a lease that was flushed, evicted or lapsed is noticed.
      const previous = await this.redis.bounded(this.redis.client!.set(leaseKey(this.instance), '1', 'PX', this.leaseMs, 'GET'), 'lease');
      this.validUntil = Math.max(this.validUntil, sentAt + this.leaseMs);
      const lost = this.held && previous === null;
      this.held = true;
      if (lost) for (const listener of this.leaseLost) listener();
    } catch (error) {
      this.redis.failed('lease', error);
    }
  }
}
