import { randomUUID } from 'node:crypto';
import { KEY_PREFIX, type RedisService } from '../redis/redis.service';

const leaseKey = (instance: string) => `${KEY_PREFIX}lease:${instance}`;
const cancelChannel = (instance: string) => `${KEY_PREFIX}cancel:${instance}`;

/**
 * Who owns which stream across replicas: one concern, three parts.
 *
 * - **Lease.** Each instance renews `hsg:lease:<instance>` (TTL `INSTANCE_LEASE_MS`) every third of
 *   it. A stream's log names its owner; a reader that finds the owner's lease gone knows the
 *   producer died (SIGKILL, OOM, node loss) and ends the stream for its watchers.
 * - **Fencing.** An owner cut off from Redis past its lease stops writing its streams' logs
 *   ({@link canWrite}): another instance may already have ended them. Its log writes also carry
 *   entry ids derived from seq, so a write after a reader ended the stream is refused by Redis.
 * - **Cancel.** `chat.cancel` for a stream owned elsewhere is published on the owner's channel;
 *   the owner aborts its upstream request.
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
  ) {}

  /**
   * Starts renewing the lease and listening for cancels; `cancel` aborts a stream owned here.
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

  /** Of `instances`, those whose lease is gone (their streams' producers are dead). */
  async dead(instances: string[]): Promise<Set<string>> {
    const client = this.redis.client!;
    const unique = [...new Set(instances)];
    const pipeline = client.pipeline();
    for (const instance of unique) pipeline.exists(leaseKey(instance));
    const results = (await pipeline.exec()) ?? [];
    const dead = new Set<string>();
    results.forEach(([error, exists], i) => {
      if (error) throw error;
      if (exists === 0) dead.add(unique[i]!);
    });
    return dead;
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
