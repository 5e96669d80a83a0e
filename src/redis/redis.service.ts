import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import Redis, { type RedisOptions } from 'ioredis';
import { InjectPinoLogger, PinoLogger } from 'nestjs-pino';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { MetricsService } from '../metrics/metrics.service';

/** Every key this gateway writes starts with this. */
export const KEY_PREFIX = 'hsg:';

/** Reconnect at once, then back off to at most this; forever (Redis returning must heal everything). */
const MAX_RECONNECT_DELAY_MS = 2_000;

/**
 * The connections to Redis, when `REDIS_URL` is set, and whether it is up. Three connections: one
 * for commands (pipelined), one subscribed to this instance's cancel channel, one for blocking
 * reads of streams followed from other instances. Commands fail at once while Redis is away
 * (no offline queue): every caller has a fallback, and nothing may wait on an outage. The
 * connections retry forever, and `onUp` listeners run each time Redis is back.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  readonly enabled: boolean;
  private readonly connections: Redis[] = [];
  private readonly upListeners: Array<() => void> = [];
  private isUp = false;
  private closing = false;
  readonly client: Redis | undefined;
  readonly subscriber: Redis | undefined;
  readonly reader: Redis | undefined;

  constructor(
    @InjectConfig() config: GatewayConfig,
    private readonly metrics: MetricsService,
    @InjectPinoLogger('Redis') private readonly logger: PinoLogger,
  ) {
    this.enabled = config.redis !== undefined;
    if (!config.redis) return;
    const url = config.redis.url;
    this.client = this.connect(url, 'commands');
    this.subscriber = this.connect(url, 'subscriber');
    this.reader = this.connect(url, 'reader');
    metrics.gauge('redis_up', 'Whether the command connection to Redis is up (1) or not (0); absent without REDIS_URL', () => (this.isUp ? 1 : 0));
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

  /** Counts and logs a failed Redis operation; callers fall back, nothing throws further. */
  failed(operation: string, error: unknown): void {
    this.metrics.redisError(operation);
    this.logger.warn({ event: 'redis_error', operation, err: { message: (error as Error)?.message } }, 'redis operation failed');
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    await Promise.all(this.connections.map((connection) => connection.quit().catch(() => connection.disconnect())));
  }

  private connect(url: string, role: 'commands' | 'subscriber' | 'reader'): Redis {
    const options: RedisOptions = {
      connectionName: `holysheep-gateway-${role}`,
      enableOfflineQueue: role === 'subscriber',
      maxRetriesPerRequest: role === 'commands' ? 0 : null,
      retryStrategy: (times) => (this.closing ? null : Math.min(times * 100, MAX_RECONNECT_DELAY_MS)),
      // The URL may carry a password: never let ioredis put it in an error message we log.
      showFriendlyErrorStack: false,
    };
    const connection = new Redis(url, options);
    this.connections.push(connection);
    connection.on('error', () => undefined); // reported through 'close' / failed commands
    if (role !== 'commands') return connection;
    connection.on('ready', () => {
      if (!this.isUp) this.logger.info({ event: 'redis_up' }, 'redis is up');
      this.isUp = true;
      for (const listener of this.upListeners) listener();
    });
    connection.on('close', () => {
      if (this.isUp && !this.closing) {
        this.metrics.redisError('connection');
        this.logger.warn({ event: 'redis_down' }, 'redis is unreachable: resume across instances and shared limits are off until it returns');
      }
      this.isUp = false;
    });
    return connection;
  }
}
