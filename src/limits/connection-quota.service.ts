import { Injectable, OnApplicationShutdown, Optional } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { withDeadline } from '../async/race-timeout';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { tag } from '../redis/hash-tags';
import { KEY_PREFIX, RedisService } from '../redis/redis.service';
import type { RedisClient } from '../redis/redis-topology';
import { FallbackNotice, SHARED_LIMIT_TIMEOUT_MS } from './redis-fallback';

/** `hsg:conns:<principal>`: a set naming the instances that may hold sockets of the principal (pruned when their count is gone). */
export const connsSetKey = (principal: string) => `${KEY_PREFIX}conns:${tag(principal)}`;
/** `hsg:conns:<principal>:<instance>`: that instance's sockets of the principal; TTL `INSTANCE_LEASE_MS`. */
export const connsCountKey = (principal: string, instance: string) => `${connsSetKey(principal)}:${instance}`;

/**
 * Adds one socket to this instance's count of a principal (KEYS[1], TTL renewed to ARGV[2] ms),
 * names this instance (ARGV[4]) in the principal's set KEYS[2], then sums the counts of every
 * instance in the set (ARGV[3] .. instance) that still exists (a crashed instance's count expires
 * with its lease; its name is then dropped here). Over the limit ARGV[1], the socket is taken back
 * out. One atomic round trip: two sockets racing for the last place cannot both get it, nor both
 * lose it. Every key it touches is the principal's, so on a Cluster they share the `{principal}`
 * tag and one slot (Redis 7.0 has no per-field TTL: one key per instance carries its own).
 * Returns {1 granted | 0 refused, the principal's sockets across instances}.
 */
const ADMIT_SCRIPT = `
local mine = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local total = 0
for _, instance in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local count = redis.call('GET', ARGV[3] .. instance)
  if count then
    total = total + math.max(0, tonumber(count))
  else
    redis.call('SREM', KEYS[2], instance)
  end
end
if total > tonumber(ARGV[1]) then
  if mine <= 1 then redis.call('DEL', KEYS[1]) else redis.call('DECR', KEYS[1]) end
  return {0, total - 1}
end
return {1, total}
`;

type AdmitCommand = (mine: string, instances: string, limit: number, leaseMs: number, prefix: string, instance: string) => Promise<[number, number]>;

/** One socket's place in its principal's `MAX_CONNECTIONS_PER_PRINCIPAL`, from the upgrade until the socket closes. */
export interface Seat {
  /** False: the principal already has its maximum across all replicas (nothing is held). */
  readonly granted: boolean;
  /** Whether every replica was counted (Redis answered), or this instance decides alone. */
  readonly shared: boolean;
  /** Gives the place back (idempotent); called when the socket closes. */
  release(): void;
}

const LOCAL_SEAT: Seat = { granted: true, shared: false, release: () => undefined };

/**
 * `MAX_CONNECTIONS_PER_PRINCIPAL` across every replica sharing the Redis (with `REDIS_URL`).
 *
 * Each instance keeps in memory how many sockets each principal has open on it ({@link held},
 * the truth) and mirrors it, per principal, in a count key of its own `hsg:conns:<principal>:<instance>`:
 * every change is sent as it happens, in order, on the one command connection, so Redis holds
 * exactly the map. Each count's TTL is the instance's lease (`INSTANCE_LEASE_MS`), renewed every
 * third of it (two PEXPIREs per principal held: the count and the principal's set): the share of
 * an instance that dies (SIGKILL, OOM, node loss) disappears within the lease, never leaks. A new
 * socket is admitted by {@link ADMIT_SCRIPT}, atomically, over that principal's keys alone.
 *
 * Redis away (down, erroring, or slower than {@link SHARED_LIMIT_TIMEOUT_MS}): the seat is not
 * shared and the gateway applies the limit to this instance's sockets alone (as without Redis);
 * {@link FallbackNotice} says so. Whatever Redis missed, every count is written again from
 * memory when it returns (and whenever a write failed or a count vanished), so it heals.
 */
@Injectable()
export class ConnectionQuotaService implements OnApplicationShutdown {
  /** This instance's name in each principal's set `hsg:conns:<principal>`. */
  readonly instance = randomUUID();
  /** Principal → sockets held on this instance (upgrading or open): what its counts in Redis must say. */
  private readonly held = new Map<string, number>();
  private readonly maxPerPrincipal: number;
  private readonly leaseMs: number;
  private readonly redis: RedisService | undefined;
  private readonly notice: FallbackNotice | undefined;
  private renewer: NodeJS.Timeout | undefined;
  /** The counts in Redis may differ from {@link held}: write them all at the next chance. */
  private dirty = false;
  /** How many times the counts were written whole (see {@link reserve}). */
  private rewrites = 0;
  /** Principals whose count this instance may have written (a rewrite deletes those no longer held). */
  private readonly mirrored = new Set<string>();

  constructor(@InjectConfig() config: GatewayConfig, @Optional() redis?: RedisService) {
    this.maxPerPrincipal = config.limits.maxConnectionsPerPrincipal;
    this.leaseMs = config.redis?.leaseMs ?? 0;
    if (!config.redis || !redis?.enabled) return;
    this.redis = redis;
    this.notice = new FallbackNotice(redis, 'connection_limit', 'MAX_CONNECTIONS_PER_PRINCIPAL counts this instance alone until Redis answers');
    redis.client!.defineCommand('hsgAdmitConnection', { numberOfKeys: 2, lua: ADMIT_SCRIPT });
    redis.onUp(() => this.rewrite());
    this.renewer = setInterval(() => this.renew(), Math.max(100, Math.floor(this.leaseMs / 3)));
    this.renewer.unref();
  }

  /** Whether the limit is shared across replicas (`REDIS_URL` is set). */
  get enabled(): boolean {
    return this.redis !== undefined;
  }

  /** Sockets of `principal` held on this instance. */
  heldFor(principal: string): number {
    return this.held.get(principal) ?? 0;
  }

  /**
   * Takes a place for a new socket of `principal`. Granted or not, a shared verdict has already
   * counted every replica; an unshared one leaves the decision to this instance's own count.
   */
  async reserve(principal: string): Promise<Seat> {
    const redis = this.redis;
    if (!redis) return LOCAL_SEAT;
    this.add(principal);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.remove(principal);
    };
    if (!redis.up) {
      this.dirty = true;
      this.notice!.note();
      return { granted: true, shared: false, release };
    }
    const rewritesBefore = this.rewrites;
    this.mirrored.add(principal);
    try {
      const [granted] = await withDeadline(this.admit(redis.client!, principal), SHARED_LIMIT_TIMEOUT_MS, 'connection limit');
      if (granted === 1) return { granted: true, shared: true, release };
      // The script took it back out of the count. A rewrite sent while the script was in flight
      // wrote it in again (held counted it): take it out at once, behind that rewrite, or the
      // phantom would refuse this principal's next socket on any replica until the next renewal.
      released = true;
      if (this.rewrites !== rewritesBefore) this.remove(principal);
      else this.forget(principal);
      return { granted: false, shared: true, release };
    } catch (error) {
      // Whether or not the script ran, the counts are written again from memory.
      this.dirty = true;
      this.notice!.note(error);
      return { granted: true, shared: false, release };
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.renewer);
  }

  private admit(client: RedisClient, principal: string): Promise<[number, number]> {
    const command = (client as unknown as { hsgAdmitConnection: AdmitCommand }).hsgAdmitConnection;
    const mine = this.countKey(principal);
    return command.call(client, mine, connsSetKey(principal), this.maxPerPrincipal, this.leaseMs, `${connsSetKey(principal)}:`, this.instance);
  }

  private countKey(principal: string): string {
    return connsCountKey(principal, this.instance);
  }

  private add(principal: string): void {
    this.held.set(principal, this.heldFor(principal) + 1);
  }

  /** Counts one socket fewer in memory only. */
  private forget(principal: string): number {
    const left = this.heldFor(principal) - 1;
    if (left > 0) this.held.set(principal, left);
    else this.held.delete(principal);
    return left;
  }

  /** Counts one socket fewer, in memory and in Redis. */
  private remove(principal: string): void {
    const left = this.forget(principal);
    const redis = this.redis!;
    if (!redis.up) {
      this.dirty = true;
      return;
    }
    const client = redis.client!;
    const write = left > 0 ? client.decr(this.countKey(principal)) : client.del(this.countKey(principal));
    write.catch((error: unknown) => this.writeFailed(error));
  }

  /** Every third of the lease: keep the counts alive, or write them all when they may be wrong or gone. */
  private renew(): void {
    const redis = this.redis!;
    if (!redis.up) return;
    if (this.dirty) return this.rewrite();
    if (this.held.size === 0) return;
    const principals = [...this.held.keys()];
    // On a Cluster, one pipeline per node (`slot-pipeline.ts`): each principal's keys share a slot.
    const pipeline = redis.pipeline();
    for (const principal of principals) pipeline.pexpire(this.countKey(principal), this.leaseMs).pexpire(connsSetKey(principal), this.leaseMs);
    redis.bounded(pipeline.exec(), 'connection count').then(
      (results) => {
        const failed = results?.find(([error]) => error)?.[0];
        if (failed) return this.writeFailed(failed);
        // A count gone although sockets are held (Redis lost it, or this process stalled past its lease).
        if (principals.some((principal, i) => results?.[2 * i]?.[1] === 0 && this.held.has(principal))) this.rewrite();
      },
      (error: unknown) => this.writeFailed(error),
    );
  }

  /**
   * Replaces every count with {@link held} (at boot, each time Redis is back, and to heal): one
   * SET per principal held (atomic by itself), a DEL for each no longer held.
   */
  private rewrite(): void {
    const redis = this.redis!;
    if (!redis.up) {
      this.dirty = true;
      return;
    }
    this.dirty = false;
    if (this.mirrored.size === 0 && this.held.size === 0) return;
    this.rewrites++;
    const pipeline = redis.pipeline();
    for (const principal of this.mirrored) if (!this.held.has(principal)) pipeline.del(this.countKey(principal));
    this.mirrored.clear();
    for (const [principal, count] of this.held) {
      this.mirrored.add(principal);
      pipeline.set(this.countKey(principal), count, 'PX', this.leaseMs).sadd(connsSetKey(principal), this.instance).pexpire(connsSetKey(principal), this.leaseMs);
    }
    redis.bounded(pipeline.exec(), 'connection count').then(
      (results) => {
        const failed = results?.find(([error]) => error)?.[0];
        if (failed) this.writeFailed(failed);
      },
      (error: unknown) => this.writeFailed(error),
    );
  }

  private writeFailed(error: unknown): void {
    this.dirty = true;
    this.redis!.failed('connection_limit', error);
  }
}
