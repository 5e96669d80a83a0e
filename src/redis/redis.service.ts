import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import { DeadlineError, withDeadline } from '../async/race-timeout';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { MetricsService } from '../metrics/metrics.service';
import { useHashTags } from './hash-tags';
import { openConnection, REDIS_SOCKET_TIMEOUT_MS, type RedisClient } from './redis-topology';
import { slotPipeline, type Pipeline } from './slot-pipeline';

/** Every key this gateway writes starts with this. */
export const KEY_PREFIX = 'hsg:';

/**
 * The longest a call on the command connection may stay unsettled ({@link RedisService.bounded}):
 * a second past the socket timeout, so a call whose connection went silent is failed by that first
 * (on a Cluster, by closing only the silent node's connection); one still unsettled a second later
 * was lost inside the client (ioredis re-queues or retries some commands a failover interrupted).
 */
export const REDIS_CALL_TIMEOUT_MS = REDIS_SOCKET_TIMEOUT_MS + 1_000;

/**
 * The connections to Redis, when `REDIS_URL`, `REDIS_CLUSTER_NODES` or `REDIS_SENTINELS` is set
 * (`redis-topology.ts`), and whether it is up. Three connections: one
 * for commands (pipelined), one subscribed to this instance's cancel channel, one for blocking
 * reads of streams followed from other instances. Commands fail at once while Redis is away
 * (no offline queue): every caller has a fallback, and nothing may wait on an outage. The
 * connections retry forever, and `onUp` listeners run each time Redis is back.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  readonly enabled: boolean;
  /** Whether Redis is a Cluster: keys of one stream share a hash tag, and work over many streams goes per node. */
  readonly cluster: boolean;
  private readonly connections: RedisClient[] = [];
  private readonly upListeners: Array<() => void> = [];
  private isUp = false;
  /** This outage (or the boot's wait) was logged: one line per outage, not one per retry. */
  private downReported = false;
  private closing = false;
  readonly client: RedisClient | undefined;
  readonly subscriber: RedisClient | undefined;
  readonly reader: RedisClient | undefined;

  constructor(
    @InjectConfig() config: GatewayConfig,
    private readonly metrics: MetricsService,
    @InjectPinoLogger('Redis') private readonly logger: PinoLogger,
  ) {
    this.enabled = config.redis !== undefined;
    this.cluster = config.redis?.mode === 'cluster';
    useHashTags(this.cluster);
    if (!config.redis) return;
    this.client = this.connect(config.redis, 'commands');
    this.subscriber = this.connect(config.redis, 'subscriber');
    this.reader = this.connect(config.redis, 'reader');
    metrics.gauge('redis_up', 'Whether the command connection to Redis is up and answering in time (1) or not (0); absent without Redis', () => (this.isUp ? 1 : 0));
  }

  /**
   * A pipeline on the command connection (or `connection`) for commands on keys of any streams:
   * one Redis gets it as one pipeline; a Cluster as one per node, results in the order queued
   * (`slot-pipeline.ts`). Each command's key must be its first argument (XREAD: after STREAMS).
   */
  pipeline(connection: RedisClient = this.client!): Pipeline {
    return this.cluster ? slotPipeline(connection) : connection.pipeline();
  }

  /** Whether commands can be sent now. */
  get up(): boolean {
    return this.isUp;
  }

  /** Runs each time the command connection becomes ready (at boot, and after every outage). */
  onUp(listener: () => void): void {
    this.upListeners.push(listener);
    if (this.isUp) listener();
  }

  /**
   * `call`, sent on the command connection, if it settles within `ms`; else it rejects with a
   * {@link DeadlineError} and the connection counts as stalled: no call on it waits for good, and
   * none stacks up behind one that will not be answered.
   */
  bounded<T>(call: Promise<T>, what: string, ms = REDIS_CALL_TIMEOUT_MS): Promise<T> {
    return withDeadline(call, ms, what).catch((error: unknown) => {
      if (error instanceof DeadlineError) this.stalled(what);
      throw error;
    });
  }

  /**
   * A call on the command connection had no outcome in time: its answer was lost inside the client
   * (a Cluster failover: ioredis may re-send an interrupted command, or never settle it), or Redis
   * is frozen in a way the socket timeout did not catch. Either reads as an outage from now on:
   * `up` turns false at once (writers keep their frames in memory, the shared limits count
   * locally, `redis_up` reads 0) and the connection is closed and opened again, so what is in
   * flight on it fails instead of waiting. When it answers again, `onUp`'s
   * listeners run as after any outage: the log writer reads its streams' logs back and writes on.
   */
  private stalled(what: string): void {
    if (!this.isUp || this.closing) return;
    this.isUp = false;
    this.downReported = true;
    this.metrics.redisError('stalled');
    this.logger.warn({ event: 'redis_stalled', operation: what }, 'redis did not answer in time: counted as down until it answers again');
    this.client!.disconnect(true);
  }

  /** Counts and logs a failed Redis operation; callers fall back, nothing throws further. */
  failed(operation: string, error: unknown): void {
    this.metrics.redisError(operation);
    this.logger.warn({ event: 'redis_error', operation, err: { message: (error as Error)?.message } }, 'redis operation failed');
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    await Promise.all(this.connections.map((connection) => connection.quit().catch(() => connection.disconnect())));
  }

  private connect(topology: NonNullable<GatewayConfig['redis']>, role: 'commands' | 'subscriber' | 'reader'): RedisClient {
    const connection = openConnection(topology, role, () => this.closing);
    this.connections.push(connection);
    if (role !== 'commands') {
      connection.on('error', () => undefined); // the command connection reports for all three
      return connection;
    }
    // A Redis that never answers from boot (a wrong host, a CA not trusted, a refused password)
    // would otherwise be silent but for `redis_up` 0: its first error says why, once per outage.
    // ioredis's messages name the host and the cause (TLS, AUTH, ECONNREFUSED), never the password.
    connection.on('error', (error: Error) => {
      if (this.isUp || this.closing || this.downReported) return;
      this.downReported = true;
      this.metrics.redisError('connection');
      this.logger.warn({ event: 'redis_unreachable', err: { message: error.message } }, 'redis is unreachable: this instance serves from memory (no resume across instances, per-instance limits) until it answers');
    });
    connection.on('ready', () => {
      if (!this.isUp) this.logger.info({ event: 'redis_up' }, 'redis is up');
      this.isUp = true;
      this.downReported = false;
      for (const listener of this.upListeners) listener();
    });
    connection.on('close', () => {
      if (this.isUp && !this.closing) {
        this.downReported = true;
        this.metrics.redisError('connection');
        this.logger.warn({ event: 'redis_down' }, 'redis is unreachable: resume across instances and shared limits are off until it returns');
      }
      this.isUp = false;
    });
    return connection;
  }
}
