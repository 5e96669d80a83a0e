import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { raceTimeout } from '../async/race-timeout';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import type { ClientConnection } from '../connections/client-connection';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import { MetricsService } from '../metrics/metrics.service';
import { CLOSE_CODES } from '@holysheep/protocol';
import { StreamManagerService } from '../streams/stream-manager.service';

/**
 * Clients are told to reconnect after a random delay up to this, so a drained pod's sockets do not
 * all land on the remaining pods in the same millisecond.
 */
const RECONNECT_SPREAD_MS = 1_000;
/** After the final 1012s, how long peers get to complete the close handshake. */
const CLOSE_HANDSHAKE_WAIT_MS = 2_500;

const { SERVICE_RESTART } = CLOSE_CODES;

/**
 * Graceful shutdown (SIGTERM in Kubernetes): readiness turns 503 and new upgrades are refused at
 * once; every socket gets `session.draining`; in-flight streams run to completion for up to
 * `DRAIN_TIMEOUT_MS`; each socket closes with 1012 as soon as it has no stream left (idle ones at
 * once); streams still running at the deadline end with `chat.error` `shutting_down`.
 * Runs in `beforeApplicationShutdown`, i.e. before Nest closes the HTTP server.
 */
@Injectable()
export class DrainService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(DrainService.name);
  private readonly timeoutMs: number;
  private drainPromise: Promise<void> | undefined;

  constructor(
    private readonly registry: ConnectionRegistryService,
    private readonly streams: StreamManagerService,
    @InjectConfig() config: GatewayConfig,
    metrics: MetricsService,
  ) {
    this.timeoutMs = config.drain.timeoutMs;
    metrics.constant('config_drain_timeout_seconds', 'DRAIN_TIMEOUT_MS in seconds: how long in-flight streams may finish after SIGTERM', this.timeoutMs / 1000);
    this.streams.onWatchEnd((socket) => {
      const connection = this.isDraining ? this.registry.get(socket.id) : undefined;
      if (connection?.streamCount === 0) closeForDrain(connection);
    });
  }

  get isDraining(): boolean {
    return this.drainPromise !== undefined;
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.drain();
  }

  /** Idempotent: a second call (second signal) waits for the first drain. */
  drain(): Promise<void> {
    this.drainPromise ??= this.run();
    return this.drainPromise;
  }

  private async run(): Promise<void> {
    const started = Date.now();
    const rolling = this.streams.sharedLogUp;
    this.logger.log(
      `draining${rolling ? ' (streams go on into Redis, sockets move to other instances)' : ''}: ${this.registry.size} sockets, ${this.streams.activeCount} active streams, up to ${this.timeoutMs} ms`,
    );
    if (rolling) {
      // Every stream can be resumed on another replica: they run on here, detached, writing into
      // the shared log, while their clients reconnect elsewhere at once.
      this.streams.holdDetached();
    } else {
      // Without a log shared with other instances nobody can resume a stream elsewhere: the ones
      // already detached stop now, as will any detached during the drain.
      this.streams.abandonDetached();
    }
    for (const connection of this.registry.all()) {
      connection.send({ type: 'session.draining', reconnect_after_ms: Math.floor(Math.random() * RECONNECT_SPREAD_MS) });
      if (connection.streamCount === 0) closeForDrain(connection);
    }
    if (rolling) {
      // Within a couple of seconds, not after the answers finish: the frame has had time to arrive.
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_SPREAD_MS));
      for (const connection of this.registry.all()) closeForDrain(connection);
    }

    const finished = await raceTimeout(this.streams.whenIdle(), this.timeoutMs);
    if (!finished) {
      this.logger.warn(`drain timeout: ending ${this.streams.activeCount} streams with shutting_down`);
      this.streams.abortAll({
        code: 'shutting_down',
        message: 'This instance shut down before the stream finished; send the request again',
        retryable: true,
      });
    }
    for (const connection of this.registry.all()) closeForDrain(connection);
    await this.streams.releaseSharedLog();
    await raceTimeout(this.registry.whenEmpty(), CLOSE_HANDSHAKE_WAIT_MS);
    this.logger.log(`drained in ${Date.now() - started} ms`);
  }
}

function closeForDrain(connection: ClientConnection): void {
  connection.close(SERVICE_RESTART.code, SERVICE_RESTART.reason, 'drain');
}

