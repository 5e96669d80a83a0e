import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import { CLOSE_CODES } from '../protocol';

const JOB_NAME = 'heartbeat';
const { HEARTBEAT_TIMEOUT, IDLE_TIMEOUT } = CLOSE_CODES;

/**
 * Pings every socket each `HEARTBEAT_INTERVAL_MS` and reaps the ones that are gone:
 * - no sign of life (pong or any inbound frame) since the previous ping → close 4001;
 * - no inbound data frame for `IDLE_TIMEOUT_MS` and no active stream → close 4002.
 * A socket with an active stream is never idle, however long the answer takes (the server this
 * replaced closed every socket five minutes after it connected, mid-answer or not).
 *
 * The interval comes from config, so it is registered through SchedulerRegistry rather than
 * `@Interval` (which takes a constant); ScheduleModule clears it on shutdown.
 */
@Injectable()
export class HeartbeatService implements OnApplicationBootstrap {
  private readonly intervalMs: number;
  private readonly idleTimeoutMs: number;

  constructor(
    private readonly scheduler: SchedulerRegistry,
    private readonly registry: ConnectionRegistryService,
    @InjectConfig() config: GatewayConfig,
  ) {
    ({ heartbeatIntervalMs: this.intervalMs, idleTimeoutMs: this.idleTimeoutMs } = config.socket);
  }

  onApplicationBootstrap(): void {
    this.scheduler.addInterval(JOB_NAME, setInterval(() => this.tick(), this.intervalMs));
  }

  /** One heartbeat round; public so tests can drive it with a fake clock. */
  tick(now = this.registry.now()): void {
    for (const connection of this.registry.all()) {
      if (connection.awaitingPong) {
        connection.close(HEARTBEAT_TIMEOUT.code, HEARTBEAT_TIMEOUT.reason, 'heartbeat');
      } else if (this.registry.isIdle(connection, this.idleTimeoutMs, now)) {
        connection.close(IDLE_TIMEOUT.code, IDLE_TIMEOUT.reason, 'idle');
      } else {
        connection.awaitingPong = true;
        connection.transport.ping();
      }
    }
  }
}
