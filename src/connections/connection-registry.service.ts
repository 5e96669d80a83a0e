import { Injectable, Optional } from '@nestjs/common';
import { EmptySignal } from '../async/empty-signal';
import { InboundByteBudgetService } from '../limits/inbound-byte-budget.service';
import { ClientConnection, type Clock, type ConnectionContext, type ConnectionHandler, type ConnectionInfo, type ConnectionSettings } from './client-connection';
import type { ClientTransport } from '../transport/client-transport';
import { FrameScheduler } from './frame-scheduler';
import { RelayTotals } from './relay-totals';

export type { Clock } from './client-connection';
export const SYSTEM_CLOCK: Clock = () => Date.now();

/** Handler for connections registered without one (unit tests of the registry and heartbeat). */
const IGNORE: ConnectionHandler = { frame() {}, flooded() {}, closed() {} };

/** Told of every connection as it joins and leaves the registry. */
export interface RegistryListener {
  registered(connection: ClientConnection): void;
  unregistered(connection: ClientConnection): void;
}

/**
 * Every open client socket, by connection id, and the per-principal counts the connection limits
 * need. Pure bookkeeping: the connections own their state and timers, the heartbeat job and the
 * gateway act on them.
 */
@Injectable()
export class ConnectionRegistryService {
  private readonly connections = new Map<string, ClientConnection>();
  private readonly perPrincipal = new Map<string, number>();
  private clock: Clock = SYSTEM_CLOCK;
  private readonly empty = new EmptySignal();
  /** Frames and bytes sent by every connection of this instance. */
  readonly totals = new RelayTotals();
  private readonly context: ConnectionContext;
  private readonly listeners: RegistryListener[] = [];

  constructor(@Optional() scheduler?: FrameScheduler, @Optional() budget?: InboundByteBudgetService) {
    this.context = {
      now: () => this.clock(),
      totals: this.totals,
      scheduler: scheduler ?? new FrameScheduler(),
      chargeInbound: budget ? (principal, bytes, now) => budget.charge(principal, bytes, now) : () => 0,
    };
  }

  /** For tests: replace the clock. */
  useClock(clock: Clock): void {
    this.clock = clock;
  }

  now(): number {
    return this.clock();
  }

  /**
   * Keeps `listener` told of every connection from now on, starting with those already here: so a
   * job that serves a share of the sockets at a time (the heartbeat's slices) keeps its own sets
   * instead of scanning them all.
   */
  listen(listener: RegistryListener): void {
    this.listeners.push(listener);
    for (const connection of this.connections.values()) listener.registered(connection);
  }

  register(
    transport: ClientTransport,
    info: Omit<ConnectionInfo, 'connectedAt'>,
    options: { handler?: ConnectionHandler; settings?: ConnectionSettings } = {},
  ): ClientConnection {
    if (this.connections.has(info.id)) throw new Error(`connection ${info.id} is already registered`);
    const connection = new ClientConnection({ ...info, connectedAt: this.clock() }, transport, options.handler ?? IGNORE, this.context, options.settings);
    this.connections.set(connection.id, connection);
    for (const key of connection.limitKeys) this.perPrincipal.set(key, (this.perPrincipal.get(key) ?? 0) + 1);
    for (const listener of this.listeners) listener.registered(connection);
    return connection;
  }

  unregister(id: string): ClientConnection | undefined {
    const connection = this.connections.get(id);
    if (!connection) return undefined;
    this.connections.delete(id);
    for (const listener of this.listeners) listener.unregistered(connection);
    connection.dispose();
    for (const key of connection.limitKeys) {
      const remaining = (this.perPrincipal.get(key) ?? 1) - 1;
      if (remaining > 0) this.perPrincipal.set(key, remaining);
      else this.perPrincipal.delete(key);
    }
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

  /** Connections counted under a limit key (a principal, or an anonymous client's `addr:<address>`). */
  countForPrincipal(principal: string): number {
    return this.perPrincipal.get(principal) ?? 0;
  }

  totalActiveStreams(): number {
    let count = 0;
    for (const c of this.connections.values()) count += c.streamCount;
    return count;
  }
}
