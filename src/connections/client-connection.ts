import { FlowGate } from '../backpressure/flow-gate';
import { textFramePayloadBytes } from '../wire/ws-text-frame';
import { FrameFloodGuard, type FloodVerdict } from '../limits/frame-flood-guard';
import { CLOSE_CODES, type ServerFrame } from '@holysheep/protocol';
import type { ClientTransport } from '../transport/client-transport';
import { FrameOrder, type OrderKey } from './frame-order';
import type { FrameScheduler } from './frame-scheduler';
import { InboundQueue, type InboundFrame } from './inbound-queue';
import { RelayTotals } from './relay-totals';

/** Current time in ms; injectable so tests drive the clock. */
export type Clock = () => number;

export interface BackpressureSettings {
  /** Unsent bytes above which the streams this socket watches stop sending to it, and it is not read. */
  highWaterBytes: number;
  /** Over the mark this long without draining: the client is too slow, close 4008. */
  slowClientTimeoutMs: number;
  /** After that close, how long a client that reads nothing more keeps its socket. */
  slowClientCloseGraceMs: number;
}

export interface ConnectionSettings {
  backpressure: BackpressureSettings;
  /** `MAX_FRAMES_PER_SECOND`. */
  framesPerSecond: number;
}

/** Shared by every connection of an instance. */
export interface ConnectionContext {
  now: Clock;
  totals: RelayTotals;
  scheduler: FrameScheduler;
  /** Per-principal inbound byte rate: returns how long to stop reading after `bytes` more. */
  chargeInbound(principal: string, bytes: number, now: number): number;
}

/** What the gateway does with a connection's traffic. */
export interface ConnectionHandler {
  /**
   * One inbound frame that passed the flood guard, in arrival order. Work that takes a round trip
   * (a resume reading a shared log) goes through {@link ClientConnection.inOrder}; a returned
   * promise holds every frame behind it (the socket is not read until it settles).
   */
  frame(connection: ClientConnection, data: Buffer, isBinary: boolean): void | Promise<void>;
  /** One frame the flood guard refused (`drop`, `drop-and-warn`) or the flood that ends the socket (`close`). */
  flooded(connection: ClientConnection, verdict: Exclude<FloodVerdict, 'accept'>, data: Buffer, isBinary: boolean): void;
  /** The socket is closed, by either side. Once. (Its streams were detached when the closing began.) */
  closed(connection: ClientConnection, code: number, reason: string): void;
}

/** What ties a stream to this socket (a watcher); detached when the socket goes. */
export interface StreamAttachment {
  detach(): void;
}

export interface ConnectionInfo {
  id: string;
  principal: string;
  /** The client's address (behind a trusted proxy: the one it reported). */
  remoteAddress: string;
  connectedAt: number;
  /**
   * More keys the per-principal limits also count this socket under: anonymous principals are
   * free to make, so their sockets are counted per client address too (`addr:<address>`).
   */
  extraLimitKeys?: readonly string[];
}

const UNLIMITED: ConnectionSettings = {
  backpressure: { highWaterBytes: Number.MAX_SAFE_INTEGER, slowClientTimeoutMs: 2 ** 31 - 1, slowClientCloseGraceMs: 10_000 },
  framesPerSecond: Number.MAX_SAFE_INTEGER,
};

/**
 * One client socket as the gateway sees it: its identity, its liveness and activity clocks, its
 * counters, the ids of its active streams, its inbound frames (flood guard, arrival order, costly
 * frames paced) and its outbound backpressure. Callers state intent (`markAlive`, `ping`,
 * `streamStarted`, `close`…); every timer it starts is released in {@link dispose}.
 * Streams are separate objects (`streams/chat-stream.ts`) that send through it.
 */
export class ClientConnection {
  readonly id: string;
  readonly principal: string;
  readonly remoteAddress: string;
  readonly connectedAt: number;
  /** Every key the per-principal limits count this socket under: its principal first. */
  readonly limitKeys: readonly string[];
  /**
   * Closed while the client cannot keep up: the stream watchers feeding this socket stop sending
   * (they catch up from their stream's log once it opens again).
   */
  readonly flow = new FlowGate();

  private lastActivity: number;
  /** When the last heartbeat ping went out, and whether any sign of life (frame or pong) came since. */
  private pingSentAt = 0;
  private answered = true;
  private counters = { framesIn: 0, framesOut: 0, bytesOut: 0 };
  /** Client-chosen `id` → the stream it names on this socket, while that stream is active here. */
  private readonly streams = new Map<string, { streamId: string; attachment?: StreamAttachment }>();
  /** Places under the stream cap held by streams still being admitted (see {@link reserveStream}). */
  private reserved = 0;
  private why: string | undefined;
  private ended = false;
  private readonly flood: FrameFloodGuard;
  private readonly inbound: InboundQueue;
  private readonly order = new FrameOrder();
  private readonly lowWaterBytes: number;
  private slowTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  /** When the socket's credential expires (ms since epoch); undefined when it never does. */
  expiresAt: number | undefined;
  private budgetTimer: NodeJS.Timeout | undefined;
  /** Bound once: passed with frames sent near or over the mark, to learn when the buffer drains. */
  private readonly onWritten = () => this.checkDrained();

  constructor(
    info: ConnectionInfo,
    readonly transport: ClientTransport,
    private readonly handler: ConnectionHandler,
    private readonly context: ConnectionContext,
    private readonly settings: ConnectionSettings = UNLIMITED,
  ) {
    this.id = info.id;
    this.principal = info.principal;
    this.remoteAddress = info.remoteAddress;
    this.limitKeys = [info.principal, ...(info.extraLimitKeys ?? [])];
    this.connectedAt = info.connectedAt;
    this.lastActivity = info.connectedAt;
    this.lowWaterBytes = Math.floor(settings.backpressure.highWaterBytes / 2);
    this.flood = new FrameFloodGuard(settings.framesPerSecond, info.connectedAt);
    this.inbound = new InboundQueue((frame) => this.handle(frame), context.scheduler, transport);
    transport.listen({
      message: (data, isBinary) => this.receive(data, isBinary),
      pong: () => this.markAlive(),
      close: (code, reason) => this.onTransportClosed(code, reason),
    });
  }

  get framesIn(): number {
    return this.counters.framesIn;
  }
  get framesOut(): number {
    return this.counters.framesOut;
  }
  get bytesOut(): number {
    return this.counters.bytesOut;
  }
  /** Last inbound frame, or the end of the last stream: the idle clock starts from here. */
  get lastActivityAt(): number {
    return this.lastActivity;
  }
  /** Why the gateway closed it, for logs and metrics; undefined when the client closed. */
  get closeReason(): string | undefined {
    return this.why;
  }
  /** Whether the gateway has stopped reading this socket (the client is slow, or sends too much). */
  get isReadingPaused(): boolean {
    return this.inbound.isReadingPaused;
  }

  // ------------------------------------------------------------------------------------- liveness

  /** A WebSocket pong: proof of life, but not activity (browsers answer pings on their own). */
  markAlive(): void {
    this.answered = true;
  }

  /** Sends a heartbeat ping, unless one is still waiting for its answer. */
  ping(now: number): void {
    if (!this.answered) return;
    this.answered = false;
    this.pingSentAt = now;
    this.transport.ping();
  }

  /** A ping has waited at least `timeoutMs` with no sign of life since it went out. */
  isUnresponsive(now: number, timeoutMs: number): boolean {
    return !this.answered && now - this.pingSentAt >= timeoutMs;
  }

  /** No inbound frame for `idleTimeoutMs` and no active stream. */
  isIdle(now: number, idleTimeoutMs: number): boolean {
    return this.streams.size === 0 && now - this.lastActivity >= idleTimeoutMs;
  }

  // -------------------------------------------------------------------------------------- streams

  /** A stream became active on this socket under `id` (started here, or resumed). */
  streamStarted(id: string, streamId: string, attachment?: StreamAttachment): void {
    this.streams.set(id, { streamId, attachment });
  }

  /**
   * The stream this socket calls `id` is no longer active here (given `attachment`, only if it is
   * still the one under that id). The idle clock restarts, so a long answer never counts as idleness.
   */
  streamEnded(id: string, attachment?: StreamAttachment): void {
    const entry = this.streams.get(id);
    if (!entry || (attachment !== undefined && entry.attachment !== attachment)) return;
    this.streams.delete(id);
    this.lastActivity = this.context.now();
  }

  hasStream(id: string): boolean {
    return this.streams.has(id);
  }

  /** The `stream_id` of the active stream the client calls `id`. */
  streamIdOf(id: string): string | undefined {
    return this.streams.get(id)?.streamId;
  }

  /**
   * Streams active here, and places held for streams still being admitted: what the per-socket cap
   * counts. Frames of different ids are handled concurrently (`FrameOrder`), so a stream admitted
   * across an await (a request counted through Redis, a resume's look-up) must hold its place
   * before the await, or every frame in that window would see the same free places.
   */
  get streamCount(): number {
    return this.streams.size + this.reserved;
  }

  /**
   * Holds one place under the cap until the returned release is called (once; later calls do
   * nothing). Release it when the admission is decided: by then the stream is registered with
   * {@link streamStarted}, or was refused.
   */
  reserveStream(): () => void {
    this.reserved++;
    let held = true;
    return () => {
      if (held) this.reserved--;
      held = false;
    };
  }

  streamIds(): string[] {
    return [...this.streams.values()].map((entry) => entry.streamId);
  }

  /**
   * Runs the handling of an inbound frame in its socket's order per id (see {@link FrameOrder}):
   * now, or after the earlier frames with the same `key` have finished. Returns a promise (to
   * return from {@link ConnectionHandler.frame}) only while the socket has too many frames in flight.
   */
  inOrder(key: OrderKey, work: () => void | Promise<void>): void | Promise<void> {
    return this.order.run(key, work);
  }

  // ------------------------------------------------------------------------------------- outbound

  /**
   * Typed send: the only way a protocol object becomes a frame. A frame of the gateway's own (`session.ready`, an error, a list): never compressed. With
   * permessage-deflate, ws creates a socket's zlib streams the first time it compresses and keeps
   * them for the socket's life (tens of KiB), so a `session.ready` over the threshold would give every
   * socket that state before it asked for anything; only a stream's frames go through the compressor.
   */
  send(frame: ServerFrame): void {
    this.sendText(JSON.stringify(frame), false);
  }

  /**
   * An answer that is not part of a stream (pong, error). Dropped while the client is not reading:
   * above the mark only stream frames are queued, so the mark bounds what a client can make the
   * gateway hold (issue #8).
   */
  reply(frame: ServerFrame): void {
    if (!this.flow.isPaused) this.send(frame);
  }

  /** Sends an already-serialised frame; `compress` false: not through permessage-deflate ({@link send}). */
  sendText(text: string, compress = true): void {
    if (!this.transport.isOpen) return;
    // Encoded here once (ws would otherwise measure the string, then encode it while writing).
    const payload = Buffer.from(text, 'utf8');
    if (this.count(payload.length)) this.transport.send(payload, undefined, compress);
    else this.sendNearMark(() => this.transport.send(payload, this.onWritten, compress));
  }

  /**
   * Sends a ready WebSocket text frame (a stream's logged frame under the id this socket knows it
   * by, or a compact frame rendered into pooled bytes): written as it is, not copied, so it must not
   * change afterwards.
   */
  sendWire(frame: Buffer): void {
    if (!this.transport.isOpen) return;
    if (this.count(textFramePayloadBytes(frame))) this.transport.sendWire(frame);
    else this.sendNearMark(() => this.transport.sendWire(frame, this.onWritten));
  }

  /** Counts a frame of `bytes` going out; true when, with it, the socket stays below half its mark (no write callback needed). */
  private count(bytes: number): boolean {
    const counters = this.counters;
    const totals = this.context.totals;
    counters.framesOut++;
    counters.bytesOut += bytes;
    totals.framesOut++;
    totals.bytesOut += bytes;
    return this.transport.bufferedAmount + bytes <= this.lowWaterBytes;
  }

  /**
   * Only frames that may cross the mark carry a write callback: the common case stays cheap, and
   * the frame that crosses it always tells us when the buffer has drained again.
   */
  private sendNearMark(send: () => void): void {
    send();
    if (!this.flow.isPaused && this.transport.bufferedAmount > this.settings.backpressure.highWaterBytes) this.congested();
  }

  // ---------------------------------------------------------------------------------- ending it

  /**
   * Ends the socket when its credential expires: `unauthorized`, then 4401. Called again by
   * `auth.refresh` with the new token's expiry, which replaces the old one.
   */
  expireAt(expiresAt: number): void {
    this.expiresAt = expiresAt;
    clearTimeout(this.expiryTimer);
    // setTimeout holds at most 2^31-1 ms (~24.8 days); longer tokens re-arm when it fires.
    const delay = Math.min(Math.max(0, expiresAt - Date.now()), 2 ** 31 - 1);
    this.expiryTimer = setTimeout(() => {
      if (Date.now() < expiresAt) return this.expireAt(expiresAt);
      this.expiryTimer = undefined;
      this.send({ type: 'error', code: 'unauthorized', message: 'token expired' });
      this.close(CLOSE_CODES.UNAUTHORIZED.code, CLOSE_CODES.UNAUTHORIZED.reason, 'auth');
    }, delay);
  }

  /**
   * Closes the socket, remembering why (the first reason wins). Its streams are detached at once,
   * not when the close handshake ends: their resume grace starts now.
   */
  close(code: number, reason: string, why: string, graceMs?: number): void {
    this.why ??= why;
    if (!this.ended) {
      this.ended = true;
      this.inbound.close();
      this.order.close();
      this.detachStreams();
    }
    this.transport.close(code, reason, graceMs);
  }

  /** Releases every timer, waiting frame and stream attachment; runs once the socket has closed (idempotent). */
  dispose(): void {
    this.inbound.close();
    this.order.close();
    this.detachStreams();
    for (const timer of [this.slowTimer, this.expiryTimer, this.budgetTimer]) clearTimeout(timer);
    this.slowTimer = this.expiryTimer = this.budgetTimer = undefined;
  }

  // ------------------------------------------------------------------------------------- internals

  private receive(data: Buffer, isBinary: boolean): void {
    if (this.ended) return;
    const now = this.context.now();
    this.counters.framesIn++;
    this.lastActivity = now;
    this.answered = true;
    const verdict = this.flood.check(now);
    if (verdict === 'accept') this.inbound.push({ data, isBinary });
    else this.handler.flooded(this, verdict, data, isBinary);
  }

  private handle(frame: InboundFrame): void {
    const pending = this.handler.frame(this, frame.data, frame.isBinary);
    if (pending) {
      this.inbound.hold('busy');
      void pending.finally(() => this.inbound.release('busy'));
    }
    if (this.ended || this.budgetTimer) return;
    let wait = 0;
    for (const key of this.limitKeys) wait = Math.max(wait, this.context.chargeInbound(key, frame.data.length, this.context.now()));
    if (wait === 0) return;
    this.inbound.hold('budget');
    this.budgetTimer = setTimeout(() => {
      this.budgetTimer = undefined;
      this.inbound.release('budget');
    }, wait);
  }

  private detachStreams(): void {
    for (const { attachment } of [...this.streams.values()]) attachment?.detach();
  }

  private onTransportClosed(code: number, reason: string): void {
    this.ended = true;
    this.dispose();
    this.handler.closed(this, code, reason);
  }

  /** Over the mark: upstreams pause, the socket is not read, and the slow-client clock starts. */
  private congested(): void {
    this.flow.pause();
    this.inbound.hold('congested');
    const { SLOW_CONSUMER } = CLOSE_CODES;
    const { slowClientTimeoutMs, slowClientCloseGraceMs } = this.settings.backpressure;
    this.slowTimer = setTimeout(() => this.close(SLOW_CONSUMER.code, SLOW_CONSUMER.reason, 'slow', slowClientCloseGraceMs), slowClientTimeoutMs);
  }

  private checkDrained(): void {
    if (!this.flow.isPaused || this.transport.bufferedAmount > this.lowWaterBytes) return;
    clearTimeout(this.slowTimer);
    this.slowTimer = undefined;
    this.flow.resume();
    this.inbound.release('congested');
  }
}
