import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import type { ClientConnection } from '../connections/client-connection';
import { ConnectionRegistryService } from '../connections/connection-registry.service';
import { CLOSE_CODES } from '../protocol';

const JOB_NAME = 'heartbeat';
const { HEARTBEAT_TIMEOUT, IDLE_TIMEOUT } = CLOSE_CODES;

/**
 * Pings every socket each `HEARTBEAT_INTERVAL_MS` and reaps the ones that are gone:
 * - a ping unanswered for a whole interval (no pong and no inbound frame since it went out) → 4001;
 * - no inbound data frame for `IDLE_TIMEOUT_MS` and no active stream → 4002.
 * A socket with an active stream is never idle, however long the answer takes (the server this
 * replaced closed every socket five minutes after it connected, mid-answer or not).
 *
 * Silence is judged by time and only after the event loop has read its sockets: a tick that runs
 * late because the loop was busy first lets that turn's I/O deliver the pongs that arrived in the
 * meantime (issue #8: innocent sockets were closed with 4001 after a stall). Sockets the gateway is
 * not reading (a slow client, a principal over its inbound byte rate) are not judged at all: their
 * silence is the gateway's doing, and the slow-client timer (4008) owns them.
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
    const silent: ClientConnection[] = [];
    for (const connection of this.registry.all()) {
      if (connection.isReadingPaused) continue;
      if (connection.isUnresponsive(now, this.intervalMs)) silent.push(connection);
      else if (connection.isIdle(now, this.idleTimeoutMs)) connection.close(IDLE_TIMEOUT.code, IDLE_TIMEOUT.reason, 'idle');
      else connection.ping(now);
    }
    // A timer set now runs after this turn's poll phase, i.e. after the pongs already received are read.
    if (silent.length > 0) setTimeout(() => this.reap(silent), 0);
  }

  private reap(candidates: ClientConnection[]): void {
    const now = this.registry.now();
    for (const connection of candidates) {
      if (!connection.isReadingPaused && connection.isUnresponsive(now, this.intervalMs)) {
        connection.close(HEARTBEAT_TIMEOUT.code, HEARTBEAT_TIMEOUT.reason, 'heartbeat');
      }
    }
  }
}
