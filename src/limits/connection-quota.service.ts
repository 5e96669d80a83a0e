import { Injectable, OnApplicationShutdown, Optional } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { KEY_PREFIX, RedisService } from '../redis/redis.service';
import { FallbackNotice, SHARED_LIMIT_TIMEOUT_MS, within } from './redis-fallback';

/** `hsg:conns:<instance>`: a hash, principal → sockets open on that instance; TTL `INSTANCE_LEASE_MS`. */
export const CONNS_HASH_PREFIX = `${KEY_PREFIX}conns:`;
/** `hsg:conns`: a set naming the instances that may have such a hash (pruned when their hash is gone). */
export const CONNS_INSTANCES_KEY = `${KEY_PREFIX}conns`;

/**
 * Adds one socket of ARGV[1] to this instance's hash (KEYS[1], TTL renewed to ARGV[3] ms), names
 * this instance (ARGV[5]) in the set KEYS[2], then sums ARGV[1]'s sockets over every instance in
 * the set whose hash still exists (a crashed instance's hash expires with its lease; its name is
 * then dropped here). Over the limit ARGV[2], the socket is taken back out. One atomic round trip:
 * two sockets racing for the last place cannot both get it, nor both lose it.
 * Returns {1 granted | 0 refused, the principal's sockets across instances}.
 */
const ADMIT_SCRIPT = `
local mine = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[5])
local total = 0
for _, instance in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local key = ARGV[4] .. instance
  local count = redis.call('HGET', key, ARGV[1])
  if count then
    total = total + math.max(0, tonumber(count))
  elseif redis.call('EXISTS', key) == 0 then
    redis.call('SREM', KEYS[2], instance)
  end
end
if total > tonumber(ARGV[2]) then
  if mine <= 1 then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HINCRBY', KEYS[1], ARGV[1], -1) end
  return {0, total - 1}
end
return {1, total}
`;

type AdmitCommand = (hash: string, instances: string, principal: string, limit: number, leaseMs: number, prefix: string, instance: string) => Promise<[number, number]>;

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
 * the truth) and mirrors it in its own hash `hsg:conns:<instance>`: every change is sent as it
 * happens, in order, on the one command connection, so Redis holds exactly the map. The hash's
 * TTL is the instance's lease (`INSTANCE_LEASE_MS`), renewed every third of it: the share of an
 * instance that dies (SIGKILL, OOM, node loss) disappears within the lease, never leaks. A new
 * socket is admitted by {@link ADMIT_SCRIPT}, atomically.
 *
 * Redis away (down, erroring, or slower than {@link SHARED_LIMIT_TIMEOUT_MS}): the seat is not
 * shared and the gateway applies the limit to this instance's sockets alone (as without Redis);
 * {@link FallbackNotice} says so. Whatever Redis missed, the whole hash is written again from
 * memory when it returns (and whenever a write failed or the hash vanished), so it heals.
 */
@Injectable()
export class ConnectionQuotaService implements OnApplicationShutdown {
  /** This instance's name in `hsg:conns` (its hash is `hsg:conns:<instance>`). */
  readonly instance = randomUUID();
  /** Principal → sockets held on this instance (upgrading or open): what the hash must say. */
  private readonly held = new Map<string, number>();
  private readonly maxPerPrincipal: number;
  private readonly leaseMs: number;
  private readonly redis: RedisService | undefined;
  private readonly notice: FallbackNotice | undefined;
  private renewer: NodeJS.Timeout | undefined;
  /** The hash may differ from {@link held}: write it whole at the next chance. */
  private dirty = false;
  /** How many times the hash was written whole (see {@link reserve}). */
  private rewrites = 0;
  /** Whether anything was ever written: until then there is no hash to replace. */
  private written = false;

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
    this.written = true;
    try {
      const [granted] = await within(this.admit(redis.client!, principal), SHARED_LIMIT_TIMEOUT_MS, 'connection limit');
      if (granted === 1) return { granted: true, shared: true, release };
      // The script took it back out of the hash. A rewrite sent while the script was in flight
      // wrote it in again (held counted it): take it out at once, behind that rewrite, or the
      // phantom would refuse this principal's next socket on any replica until the next renewal.
      released = true;
      if (this.rewrites !== rewritesBefore) this.remove(principal);
      else this.forget(principal);
      return { granted: false, shared: true, release };
    } catch (error) {
      // Whether or not the script ran, the hash is written whole again from memory.
      this.dirty = true;
      this.notice!.note(error);
      return { granted: true, shared: false, release };
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.renewer);
  }

  private admit(client: Redis, principal: string): Promise<[number, number]> {
    const command = (client as unknown as { hsgAdmitConnection: AdmitCommand }).hsgAdmitConnection;
    return command.call(client, this.hashKey, CONNS_INSTANCES_KEY, principal, this.maxPerPrincipal, this.leaseMs, CONNS_HASH_PREFIX, this.instance);
  }

  private get hashKey(): string {
    return `${CONNS_HASH_PREFIX}${this.instance}`;
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

  /** Counts one socket fewer, in memory and in the hash. */
  private remove(principal: string): void {
    const left = this.forget(principal);
    const redis = this.redis!;
    if (!redis.up) {
      this.dirty = true;
      return;
    }
    const client = redis.client!;
    const write = left > 0 ? client.hincrby(this.hashKey, principal, -1) : client.hdel(this.hashKey, principal);
    write.catch((error: unknown) => this.writeFailed(error));
  }

  /** Every third of the lease: keep the hash alive, or write it whole when it may be wrong or gone. */
  private renew(): void {
    const redis = this.redis!;
    if (!redis.up) return;
    if (this.dirty) return this.rewrite();
    if (this.held.size === 0) return;
    redis
      .client!.pexpire(this.hashKey, this.leaseMs)
      .then((kept) => {
        // Gone although sockets are held (Redis lost it, or this process stalled past its lease).
        if (kept === 0 && this.held.size > 0) this.rewrite();
      })
      .catch((error: unknown) => this.writeFailed(error));
  }

  /** Replaces the hash with {@link held}, atomically (at boot, each time Redis is back, and to heal). */
  private rewrite(): void {
    const redis = this.redis!;
    if (!redis.up) {
      this.dirty = true;
      return;
    }
    this.dirty = false;
    if (!this.written && this.held.size === 0) return;
    this.written = true;
    this.rewrites++;
    const multi = redis.client!.multi().del(this.hashKey);
    if (this.held.size > 0) multi.hset(this.hashKey, Object.fromEntries(this.held)).pexpire(this.hashKey, this.leaseMs).sadd(CONNS_INSTANCES_KEY, this.instance);
    multi.exec().then(
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
