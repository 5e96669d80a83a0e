import { randomUUID } from 'node:crypto';
import { KEY_PREFIX, type RedisService } from '../../redis/redis.service';
import { FramePrefixes, restOf } from '../record-frame';
import { PRODUCER_DIED } from '../stream-errors';
import { metaKey, streamKey } from './redis-log-format';

const leaseKey = (instance: string) => `${KEY_PREFIX}lease:${instance}`;
const cancelChannel = (instance: string) => `${KEY_PREFIX}cancel:${instance}`;

/**
 * Who owns which stream across replicas, and so who may end it: one concern, in one place.
 *
 * - **Lease.** Each instance renews `hsg:lease:<instance>` (TTL `INSTANCE_LEASE_MS`) every third of
 *   it. A stream's log names its owner; a reader that finds the owner's lease gone knows the
 *   producer died (SIGKILL, OOM, node loss) and ends the stream for its watchers ({@link endOrphaned}).
 * - **Fencing.** An owner cut off from Redis past its lease stops writing its streams' logs
 *   ({@link canWrite}): another instance may already have ended them. Its log writes also carry
 *   entry ids derived from seq, so a write after a reader ended the stream is refused by Redis
 *   ({@link isFenced}), and so is an end written after the owner wrote more (then it is alive).
 * - **Cancel.** `chat.cancel` for a stream owned elsewhere is published on the owner's channel;
 *   the owner cancels its producer.
 */
export class StreamOwnership {
  /** This instance, as stream logs name their owner. */
  readonly instance = `gw_${randomUUID()}`;
  /** Until when (local clock) this instance's lease is known to hold. */
  private validUntil = 0;
  private renewer: NodeJS.Timeout | undefined;
  private onCancel: ((streamId: string) => void) | undefined;

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
    subscriber.on('message', (_channel: string, streamId: string) => this.onCancel?.(streamId));
    subscriber.subscribe(cancelChannel(this.instance)).catch((error) => this.redis.failed('subscribe', error));
    this.renewer = setInterval(() => void this.renew(), Math.max(100, Math.floor(this.leaseMs / 3)));
    this.renewer.unref();
    return new Promise((resolve) => this.redis.onUp(() => void this.renew().then(resolve)));
  }

  /** Whether this instance may still write its streams' logs (its lease has not lapsed). */
  canWrite(now = Date.now()): boolean {
    return now < this.validUntil;
  }

  /** Whether Redis refused a log write because another instance ended that stream first. */
  isFenced(error: unknown): boolean {
    // An entry id not greater than the stream's last one: another writer got there first.
    return error instanceof Error && /equal or smaller than the target stream top item/i.test(error.message);
  }

  /** Of `instances`, those whose lease is gone (their streams' producers are dead). */
  async dead(instances: string[]): Promise<Set<string>> {
    const unique = [...new Set(instances)];
    const pipeline = this.redis.client!.pipeline();
    for (const instance of unique) pipeline.exists(leaseKey(instance));
    const results = (await pipeline.exec()) ?? [];
    const dead = new Set<string>();
    results.forEach(([error, exists], i) => {
      if (error) throw error;
      if (exists === 0) dead.add(unique[i]!);
    });
    return dead;
  }

  /**
   * Ends a stream's log whose producer can no longer write it (its lease is gone, or its own
   * record lost frames Redis never got) with one terminal, at the seq after the last logged frame.
   * The entry id makes this refused if the producer wrote more meanwhile: false then (it is alive).
   */
  async endOrphaned(streamId: string, requestId: string, lastSeq: number): Promise<boolean> {
    const seq = lastSeq + 1;
    const json = new FramePrefixes(requestId).render({ seq, type: 'chat.error', rest: restOf({ stream_id: streamId, seq, ...PRODUCER_DIED }) });
    const retention = Math.max(1, this.retentionMs);
    try {
      await this.redis.client!.xadd(streamKey(streamId), `${seq}-0`, String(seq), json);
    } catch (error) {
      if (this.isFenced(error)) return false;
      throw error;
    }
    await this.redis
      .client!.pipeline()
      .hset(metaKey(streamId), { state: 'failed', last_seq: String(seq) })
      .pexpire(metaKey(streamId), retention)
      .pexpire(streamKey(streamId), retention)
      .exec();
    return true;
  }

  /** Asks the owner of `streamId` to cancel it. */
  async cancel(owner: string, streamId: string): Promise<void> {
    await this.redis.client!.publish(cancelChannel(owner), streamId);
  }

  /** Drops the lease (after a drain: nothing of ours is running any more). */
  async stop(): Promise<void> {
    clearInterval(this.renewer);
    this.validUntil = 0;
    if (this.redis.up) await this.redis.client!.del(leaseKey(this.instance)).catch(() => undefined);
  }

  private async renew(): Promise<void> {
    if (!this.redis.up) return;
    // Counted from before the round trip: the lease may have been set any time after this.
    const sentAt = Date.now();
    try {
      await this.redis.client!.set(leaseKey(this.instance), '1', 'PX', this.leaseMs);
      this.validUntil = sentAt + this.leaseMs;
    } catch (error) {
      this.redis.failed('lease', error);
    }
  }
}
