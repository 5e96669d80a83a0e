import { Injectable } from '@nestjs/common';
import { EmptySignal } from '../common/empty-signal';
import { ClientConnection, type BackpressureSettings, type ConnectionInfo } from './client-connection';
import type { ClientTransport } from './client-transport';
import { RelayTotals } from './relay-totals';

/** Current time in ms; injectable so tests drive the clock. */
export type Clock = () => number;
export const SYSTEM_CLOCK: Clock = () => Date.now();

/**
 * Every open client socket, by connection id. Pure bookkeeping: no timers and no I/O of its own
 * (the heartbeat job and the gateway act on what it reports), so it is testable without sockets.
 */
@Injectable()
export class ConnectionRegistryService {
  private readonly connections = new Map<string, ClientConnection>();
  private readonly perPrincipal = new Map<string, number>();
  private clock: Clock = SYSTEM_CLOCK;
  private readonly empty = new EmptySignal();
  /** Frames, bytes and chunks sent by every connection of this instance. */
  readonly totals = new RelayTotals();

  /** For tests: replace the clock. */
  useClock(clock: Clock): void {
    this.clock = clock;
  }

  now(): number {
    return this.clock();
  }

  register(transport: ClientTransport, info: Omit<ConnectionInfo, 'connectedAt'>, backpressure?: BackpressureSettings): ClientConnection {
    if (this.connections.has(info.id)) throw new Error(`connection ${info.id} is already registered`);
    const connection = new ClientConnection({ ...info, connectedAt: this.clock() }, transport, backpressure, this.totals);
    this.connections.set(connection.id, connection);
    this.perPrincipal.set(connection.principal, (this.perPrincipal.get(connection.principal) ?? 0) + 1);
    return connection;
  }

  unregister(id: string): ClientConnection | undefined {
    const connection = this.connections.get(id);
    if (!connection) return undefined;
    this.connections.delete(id);
    connection.dispose();
    const remaining = (this.perPrincipal.get(connection.principal) ?? 1) - 1;
    if (remaining > 0) this.perPrincipal.set(connection.principal, remaining);
    else this.perPrincipal.delete(connection.principal);
    this.empty.check(this.connections.size);
    return connection;
  }

  get(id: string): ClientConnection | undefined {
    return this.connections.get(id);
  }

  /** Resolves once every connection has been unregistered (at once if there is none). */
  whenEmpty(): Promise<void> {
    return this.empty.wait(this.connections.size);
  }

  get size(): number {
    return this.connections.size;
  }

  all(): IterableIterator<ClientConnection> {
    return this.connections.values();
  }

  /** An inbound data frame: counts as activity and as proof of life. */
  recordFrameIn(connection: ClientConnection): void {
    connection.framesIn++;
    connection.lastActivityAt = this.clock();
    connection.awaitingPong = false;
  }

  /** A WebSocket pong: proof of life, but not activity (browsers answer pings on their own). */
  recordPong(connection: ClientConnection): void {
    connection.awaitingPong = false;
  }

  streamStarted(connection: ClientConnection, id: string, streamId: string): void {
    connection.activeStreams.set(id, streamId);
  }

  /** The idle clock restarts when a stream ends, so a long answer never counts as idleness. */
  streamEnded(connection: ClientConnection, id: string): void {
    if (connection.activeStreams.delete(id)) connection.lastActivityAt = this.clock();
  }

  /** Idle = no inbound data frame for `idleTimeoutMs` and no active stream. */
  isIdle(connection: ClientConnection, idleTimeoutMs: number, now = this.clock()): boolean {
    return connection.activeStreams.size === 0 && now - connection.lastActivityAt >= idleTimeoutMs;
  }

  /** Per-principal connection count, for the connection limits. */
  countForPrincipal(principal: string): number {
    return this.perPrincipal.get(principal) ?? 0;
  }

  totalActiveStreams(): number {
    let count = 0;
    for (const c of this.connections.values()) count += c.activeStreams.size;
    return count;
  }
}
