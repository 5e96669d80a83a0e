import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { GatewayConfig } from '../config/config.schema';
import { InjectConfig } from '../config/gateway-config.module';
import type { ClientConnection } from '../connections/client-connection';
import { ConnectionRegistryService, type RegistryListener } from '../connections/connection-registry.service';
import { CLOSE_CODES } from '@holysheep/protocol';

const JOB_NAME = 'heartbeat';
const { HEARTBEAT_TIMEOUT, IDLE_TIMEOUT } = CLOSE_CODES;
/** A round is spread over slices of at least this long, and at most {@link MAX_SLICES} of them. */
const MIN_SLICE_MS = 100;
const MAX_SLICES = 250;

/** Into how many slices a round of `intervalMs` is spread, and how long each is. */
export function heartbeatSlices(intervalMs: number): { slices: number; sliceMs: number } {
  const slices = Math.max(1, Math.min(MAX_SLICES, Math.floor(intervalMs / MIN_SLICE_MS)));
  return { slices, sliceMs: Math.round(intervalMs / slices) };
}

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
 * A round is spread over the interval (issue 13): each socket gets a slot, and every slice of the
 * interval (100 ms, 250 of them for the 25 s default; one slice for intervals under 200 ms) pings
 * and judges only the sockets of its slot, which it keeps as a set (the registry tells it of each
 * socket that comes and goes): a slice costs its share of the sockets, not a scan of them all.
 * Pinging every socket in one tick wrote one frame per socket in a single turn of the loop, and
 * their pongs came back together: with 10,000 sockets the loop stalled ~200–380 ms every 25 s, and
 * every chunk in flight waited (~20–40 ms with 1 s slices; with these, nothing above the background
 * lag). Each socket is still pinged once per round (the interval, rounded to a whole number of
 * slices).
 *
 * The interval comes from config, so it is registered through SchedulerRegistry rather than
 * `@Interval` (which takes a constant); ScheduleModule clears it on shutdown.
 */
@Injectable()
export class HeartbeatService implements OnApplicationBootstrap, RegistryListener {
  /** One round: every socket is pinged once in it. */
  private readonly roundMs: number;
  private readonly idleTimeoutMs: number;
  private readonly slices: number;
  private readonly sliceMs: number;
  /** The slot the next slice serves. */
  private nextSlot = 0;
  /** The sockets of each slot, dealt round-robin so that slots stay even. */
  private readonly slots: Set<ClientConnection>[];
  private readonly slotOf = new WeakMap<ClientConnection, Set<ClientConnection>>();
  private dealt = 0;

  constructor(
    private readonly scheduler: SchedulerRegistry,
    private readonly registry: ConnectionRegistryService,
    @InjectConfig() config: GatewayConfig,
  ) {
    this.idleTimeoutMs = config.socket.idleTimeoutMs;
    ({ slices: this.slices, sliceMs: this.sliceMs } = heartbeatSlices(config.socket.heartbeatIntervalMs));
    this.roundMs = this.slices * this.sliceMs;
    this.slots = Array.from({ length: this.slices }, () => new Set<ClientConnection>());
    registry.listen(this);
  }

  registered(connection: ClientConnection): void {
    const slot = this.slots[this.dealt++ % this.slices];
    slot.add(connection);
    this.slotOf.set(connection, slot);
  }

  unregistered(connection: ClientConnection): void {
    this.slotOf.get(connection)?.delete(connection);
  }

  onApplicationBootstrap(): void {
    this.scheduler.addInterval(JOB_NAME, setInterval(() => this.slice(), this.sliceMs));
  }

  /** One slice: the sockets of the next slot. */
  slice(now = this.registry.now()): void {
    const slot = this.nextSlot;
    this.nextSlot = (slot + 1) % this.slices;
    this.beat(now, this.slots[slot]);
  }

  /** A whole round at once, every slot; public so tests can drive it with a fake clock. */
  tick(now = this.registry.now()): void {
    this.beat(now, this.registry.all());
  }

  /** A socket closed here may leave its slot while the loop runs: a Set's iteration allows that. */
  private beat(now: number, connections: Iterable<ClientConnection>): void {
    const silent: ClientConnection[] = [];
    for (const connection of connections) {
      if (connection.isReadingPaused) continue;
      if (connection.isUnresponsive(now, this.roundMs)) silent.push(connection);
      else if (connection.isIdle(now, this.idleTimeoutMs)) connection.close(IDLE_TIMEOUT.code, IDLE_TIMEOUT.reason, 'idle');
      else connection.ping(now);
    }
    // A timer set now runs after this turn's poll phase, i.e. after the pongs already received are read.
    if (silent.length > 0) setTimeout(() => this.reap(silent), 0);
  }

  private reap(candidates: ClientConnection[]): void {
    const now = this.registry.now();
    for (const connection of candidates) {
      if (!connection.isReadingPaused && connection.isUnresponsive(now, this.roundMs)) {
        connection.close(HEARTBEAT_TIMEOUT.code, HEARTBEAT_TIMEOUT.reason, 'heartbeat');
      }
    }
  }
}
