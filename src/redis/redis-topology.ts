import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisTopology } from '../config/config.schema';

/** A connection to Redis: one server (or the primary Sentinels name), or a Cluster. Both speak the same commands. */
export type RedisClient = Redis | Cluster;

/** Reconnect at once, then back off to at most this; forever (Redis returning must heal everything). */
const MAX_RECONNECT_DELAY_MS = 2_000;
/** How long a Cluster waits for its slot map (CLUSTER SLOTS) before asking another node. */
const SLOTS_REFRESH_TIMEOUT_MS = 1_000;

/**
 * A connection that has a command out and hears nothing for this long is taken as dead
 * (`socketTimeout`: destroyed, its commands rejected, opened again): a hung host or a blackholed
 * network leaves it open, and nothing else would close it. On a Cluster that is the one node's
 * connection. Longer than any answer of a Redis at work (a follower's blocking read answers within
 * 1 s), short against a lease and a resume grace.
 */
export const REDIS_SOCKET_TIMEOUT_MS = 3_000;

/** What a connection is for: commands (pipelined, never queued), a subscriber, a reader of streams. */
export type ConnectionRole = 'commands' | 'subscriber' | 'reader';

/**
 * Opens one connection of `role` to the configured Redis, with the same failure semantics on every
 * topology: commands fail at once while Redis is away (no offline queue, except the subscriber's
 * SUBSCRIBE, which must be sent when it returns), and the connection retries forever until
 * `closing()`. A Cluster refreshes its slot map on MOVED / a failover by itself; a Sentinel-backed
 * connection asks the Sentinels for the primary on every reconnect, so a failover is followed
 * without a restart. Credentials are passed as options, never in a string ioredis could log.
 */
export function openConnection(topology: RedisTopology, role: ConnectionRole, closing: () => boolean): RedisClient {
  const retry = (times: number) => (closing() ? null : Math.min(times * 100, MAX_RECONNECT_DELAY_MS));
  const base: RedisOptions = {
    connectionName: `holysheep-gateway-${role}`,
    maxRetriesPerRequest: role === 'commands' ? 0 : null,
    // Also bounds the handshake (the ready check's INFO): a reconnect that reached a primary which
    // hangs gives it up and asks again — the Sentinels name its replacement once they promoted one.
    socketTimeout: REDIS_SOCKET_TIMEOUT_MS,
    // Never let ioredis put a password into an error message we log.
    showFriendlyErrorStack: false,
  };
  const offlineQueue = role === 'subscriber';
  if (topology.mode === 'single') return new Redis(topology.url, { ...base, enableOfflineQueue: offlineQueue, retryStrategy: retry });
  const access: RedisOptions = { username: topology.username, password: topology.password, ...(topology.tls ? { tls: {} } : {}) };
  if (topology.mode === 'sentinel') {
    return new Redis({
      ...base,
      ...access,
      sentinels: topology.sentinels,
      name: topology.name,
      sentinelPassword: topology.sentinelPassword,
      ...(topology.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      enableOfflineQueue: offlineQueue,
      retryStrategy: retry,
      sentinelRetryStrategy: retry,
      // A primary that was demoted (a failover it did not see) answers READONLY: reconnect, and the Sentinels name the new one.
      reconnectOnError: (error) => (/READONLY/.test(error.message) ? 2 : false),
    });
  }
  const options: ClusterOptions = {
    redisOptions: access.tls ? { ...base, ...access, tls: {} } : { ...base, ...access },
    enableOfflineQueue: offlineQueue,
    clusterRetryStrategy: retry,
    slotsRefreshTimeout: SLOTS_REFRESH_TIMEOUT_MS,
    // Every read goes to the primary: a replica may lag, and a log read must never look shorter than it is.
    scaleReads: 'master',
    // Cancels are sharded (SPUBLISH / SSUBSCRIBE): one subscriber connection per primary.
    shardedSubscribers: role === 'subscriber',
  };
  return new Cluster(topology.nodes, options);
}
