/**
 * The SDK's reconnecting transport: one WebSocket to the gateway, its token, application pings
 * while there is work, and reconnects by close code (docs/protocol.md "Reconnecting", as
 * reconnect-policy.ts). It speaks the session part of the protocol (`session.ready`,
 * `session.draining`, `ping`/`pong`) and knows nothing about chat streams: whatever else arrives
 * goes to {@link TransportHooks.onFrame}, and whether there is work is asked of the layer above.
 */
import { CLOSE_CODES, SUBPROTOCOL, type ChatChunkFrame, type ClientFrame, type ServerFrame, type SessionReadyFrame } from '@holysheep/protocol';
import { Emitter } from './emitter';
import { ChatError } from './errors';
import { anonymousKey, defaultKeyStorage } from './anonymous-key';
import { closeAction, DEFAULT_BACKOFF, ReconnectBackoff } from './reconnect-policy';
import { detach, messageText, OPEN, safeClose, socketTarget, type WebSocketConstructor, type WebSocketLike } from './websocket';

import type { ClientEvents, ClientOptions, ConnectionState } from './client-types';
import { asDeltaFrame, deltaAsChunkFrame, type DeltaFrame } from './compact';

/** The options the transport reads (the client's, minus what belongs to the layers above). */
export type TransportOptions = Pick<
  ClientOptions,
  'url' | 'token' | 'getToken' | 'WebSocket' | 'tokenIn' | 'backoff' | 'pingIntervalMs' | 'pongTimeoutMs' | 'connectTimeoutMs' | 'random' | 'anonymousKeyStorage'
>;

/** The frames the transport hands up: everything but the session's own. */
export type AppFrame = Exclude<ServerFrame, { type: 'session.ready' | 'session.draining' | 'pong' }> | DeltaFrame;

/** How the transport talks to the layer above it. All calls are synchronous. */
export interface TransportHooks {
  /** Whether anything needs a socket: it keeps pings going and drops become reconnects. */
  hasWork(): boolean;
  /** A socket reached `session.ready` (the state is already `open`): send what waits for one. */
  onOpen(session: SessionReadyFrame): void;
  /** A frame that is not the session's own. */
  onFrame(frame: AppFrame): void;
  /**
   * The `chat.chunk` a compact frame stands for, as the `frame` event reports it: the layer above
   * knows its stream's id and last whole chunk. @defaultValue {@link deltaAsChunkFrame}
   */
  describeDelta?(frame: DeltaFrame): ChatChunkFrame;
  /** The socket is gone; called before deciding whether to reconnect, so work can be re-judged. */
  onSocketLost(): void;
  /** The transport stops for good (until the next request): fail whatever was in flight. */
  onStopped(error: ChatError): void;
}

type LastClose = ConnectionState['lastClose'];

const DEFAULT_PONG_TIMEOUT_MS = 5_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const MAX_PING_INTERVAL_MS = 15_000;
/** The close code the client uses when it abandons a socket itself (application range). */
const CLIENT_ABANDON_CODE = 4000;

/** One logical connection over successive WebSockets; see the module comment. */
export class ReconnectingTransport {
  /** `state` changes and every `frame` in and out. */
  readonly events = new Emitter<ClientEvents>();
  private ws: WebSocketLike | undefined;
  private currentState: ConnectionState = { status: 'idle', attempt: 0, draining: false };
  private drainDelayMs: number | undefined;
  private readonly backoff: ReconnectBackoff;
  private needsFreshToken = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  /** Fires once the open socket has stayed up `backoff.resetAfterMs`: the attempt counter starts over. */
  private stableTimer: ReturnType<typeof setTimeout> | undefined;
  private lastInboundAt = 0;
  /** `connect()` was called: stay connected without work too (until the server closes an idle socket). */
  private keepOpen = false;
  /** Bumped for every socket, so an async token lookup for an old attempt is discarded. */
  private generation = 0;
  /** Sent when there is no token: see `ClientOptions.anonymousKeyStorage`. Made on first use. */
  private anonymousKey: string | undefined;

  constructor(
    private readonly options: TransportOptions,
    private readonly hooks: TransportHooks,
  ) {
    this.backoff = new ReconnectBackoff(options.backoff, () => this.random());
  }

  /** The connection state (a new object on every change). */
  get state(): ConnectionState {
    return this.currentState;
  }

  /** A socket is open and greeted (`session.ready`): frames sent now reach the server. */
  get ready(): boolean {
    return this.ws !== undefined && this.currentState.status === 'open';
  }

  /** Opens now and stays connected without work; resolves on `session.ready`. */
  connect(): Promise<SessionReadyFrame> {
    this.keepOpen = true;
    if (this.currentState.status === 'open' && this.currentState.session) return Promise.resolve(this.currentState.session);
    return new Promise((resolve, reject) => {
      const off = this.events.on('state', (state) => {
        if (state.status === 'open' && state.session) {
          off();
          resolve(state.session);
        } else if (state.status === 'closed' || state.status === 'idle') {
          off();
          reject(state.error ?? new ChatError({ code: 'connection_closed', message: 'The connection closed' }));
        }
      });
      this.ensureSocket();
    });
  }

  /** Opens a socket unless one is open or opening, or a reconnect is already scheduled. */
  ensureSocket(): void {
    if (this.ws) return;
    const status = this.currentState.status;
    if (status === 'idle' || status === 'closed') this.openSocket();
  }

  /** Skips the wait of a pending reconnect, or starts again after `closed`. */
  reconnectNow(): void {
    this.keepOpen = true;
    if (this.ws) return;
    this.clearReconnectTimer();
    this.openSocket();
  }

  /** Sends a frame on the open socket; without one it is dropped (the layers above resend on the next). */
  send(frame: ClientFrame): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return;
    ws.send(JSON.stringify(frame));
    // Listeners (the playground's frame log, developer tools) never see a token.
    this.events.emit('frame', { direction: 'out', frame: frame.type === 'auth.refresh' ? { ...frame, token: '[redacted]' } : frame });
  }

  /** The server is draining (a refused request said so before `session.draining` did). */
  markDraining(): void {
    this.setState({ draining: true });
  }

  /**
   * Work was added or finished: pings run exactly while there is work, and with none left a
   * reconnect in waiting is dropped (an abort never reconnects) unless `connect()` asked to stay.
   */
  workChanged(): void {
    if (this.hooks.hasWork()) return this.startPinging();
    this.stopPinging();
    if (this.currentState.status === 'reconnecting' && !this.keepOpen) {
      this.clearReconnectTimer();
      this.backoff.reset();
      this.setState({ status: 'idle', attempt: 0, nextAttemptAt: undefined });
    }
  }

  /** Drops the socket as a network loss would (the client treats it as 1006). */
  drop(): void {
    if (this.ws) this.abandon(this.ws, 'dropped by the client');
  }

  /** Closes the socket and stays `closed` until the next request; the layers above settle their work first. */
  close(): void {
    this.keepOpen = false;
    this.clearTimers();
    this.closeSocket('client closed');
    this.backoff.reset(); // the next request is a fresh start
    this.setState({ status: 'closed', attempt: 0, nextAttemptAt: undefined, error: undefined, draining: false });
  }

  // ------------------------------------------------------------------------------ opening

  private openSocket(): void {
    if (this.ws) return;
    const generation = ++this.generation;
    this.setState({ status: 'connecting', nextAttemptAt: undefined, error: undefined, draining: false });
    void this.resolveToken(this.needsFreshToken).then(
      (token) => {
        if (generation !== this.generation || this.ws) return;
        this.needsFreshToken = false;
        this.createSocket(token);
      },
      (error: unknown) => {
        if (generation !== this.generation) return;
        const message = error instanceof Error && error.message ? error.message : 'No valid token is available';
        this.stop(new ChatError({ code: 'unauthorized', message, closeCode: CLOSE_CODES.UNAUTHORIZED.code }));
      },
    );
  }

  private async resolveToken(refresh: boolean): Promise<string | undefined> {
    if (this.options.getToken) {
      const token = (await this.options.getToken({ refresh })) ?? undefined;
      if (refresh && !token) throw new Error('The token was refused and no new one is available');
      return token || this.anonymous();
    }
    if (refresh) throw new Error('The token was refused (no getToken to refresh it)');
    return this.options.token || this.anonymous();
  }

  /** The anonymous key sent when there is no token (see `ClientOptions.anonymousKeyStorage`). */
  private anonymous(): string {
    const storage = this.options.anonymousKeyStorage === undefined ? defaultKeyStorage() : this.options.anonymousKeyStorage;
    this.anonymousKey ??= anonymousKey(storage);
    return this.anonymousKey;
  }

  private createSocket(token: string | undefined): void {
    const Ctor = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ctor) {
      return this.stop(new ChatError({ code: 'connect_failed', message: 'No WebSocket implementation: pass `WebSocket` (e.g. from the ws package)' }));
    }
    const target = socketTarget(this.options.url, SUBPROTOCOL, token, this.options.tokenIn ?? 'auto');
    let ws: WebSocketLike;
    try {
      ws = (target.options ? new Ctor(target.url, target.protocols, target.options) : new Ctor(target.url, target.protocols)) as WebSocketLike;
    } catch (error) {
      return this.stop(new ChatError({ code: 'connect_failed', message: `The socket could not be opened: ${(error as Error).message}` }));
    }
    this.ws = ws;
    this.lastInboundAt = Date.now();
    ws.onmessage = (event: { data: unknown }) => this.onMessage(ws, event.data);
    ws.onclose = (event: { code: number; reason?: string }) => this.onClose(ws, event.code, event.reason ?? '');
    ws.onerror = () => undefined; // a close event follows
    this.connectTimer = setTimeout(() => this.abandon(ws, 'no session.ready in time'), this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  }

  // ------------------------------------------------------------------------------ inbound

  private onMessage(ws: WebSocketLike, data: unknown): void {
    if (ws !== this.ws) return;
    this.lastInboundAt = Date.now();
    const frame = parseFrame(data);
    if (!frame) return;
    const reported = frame.type === 'chat.delta' ? (this.hooks.describeDelta ?? deltaAsChunkFrame)(frame) : frame;
    this.events.emit('frame', { direction: 'in', frame: reported });
    switch (frame.type) {
      case 'session.ready':
        return this.onReady(frame);
      case 'session.draining':
        this.drainDelayMs = frame.reconnect_after_ms;
        return this.setState({ draining: true });
      case 'pong':
        return; // any inbound frame already proved the socket alive
      case 'error':
        // A refusal of the connection's token (not of one request): the next attempt needs a new one.
        if (frame.id === undefined && frame.code === 'unauthorized') this.needsFreshToken = true;
        break;
    }
    this.hooks.onFrame(frame);
  }

  /** A greeting is not yet a working connection: the attempt counter starts over only after `resetAfterMs` up. */
  private onReady(frame: SessionReadyFrame): void {
    clearTimeout(this.connectTimer);
    this.drainDelayMs = undefined;
    this.stableTimer = setTimeout(() => {
      this.stableTimer = undefined;
      this.backoff.reset();
      if (this.currentState.attempt !== 0) this.setState({ attempt: 0 });
    }, this.options.backoff?.resetAfterMs ?? DEFAULT_BACKOFF.resetAfterMs);
    this.setState({ status: 'open', nextAttemptAt: undefined, error: undefined, session: frame, draining: false });
    this.hooks.onOpen(frame);
    this.workChanged();
  }

  // ------------------------------------------------------------------------------ closing

  private onClose(ws: WebSocketLike, code: number, reason: string): void {
    if (ws !== this.ws) return;
    detach(ws);
    this.ws = undefined;
    clearTimeout(this.connectTimer);
    this.clearStableTimer();
    const greeted = this.currentState.status === 'open';
    this.hooks.onSocketLost();
    const lastClose = { code, reason };
    const action = closeAction(code);
    if (action === 'when-needed') this.keepOpen = false;
    if (action === 'refresh-token' && this.options.getToken) this.needsFreshToken = true;
    if (action === 'stop') return this.stop(stopError(code), lastClose);
    if (!this.hooks.hasWork() && !this.keepOpen) {
      // Nothing needs a socket: the next request opens one (and asks for a token then).
      this.stopPinging();
      this.backoff.reset();
      return this.setState({ status: 'idle', attempt: 0, nextAttemptAt: undefined, lastClose, draining: false });
    }
    if (action === 'refresh-token' && !this.options.getToken) {
      return this.stop(new ChatError({ code: 'unauthorized', message: 'The token was refused', closeCode: code }), lastClose);
    }
    const delayMs = this.backoff.next({ greeted, action, serverDelayMs: this.drainDelayMs });
    this.scheduleReconnect(delayMs, this.backoff.attempt, lastClose);
  }

  private scheduleReconnect(delayMs: number, attempt: number, lastClose: LastClose): void {
    this.stopPinging();
    this.clearReconnectTimer();
    this.drainDelayMs = undefined;
    this.setState({ status: 'reconnecting', attempt, nextAttemptAt: Date.now() + delayMs, lastClose, draining: false });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.openSocket();
    }, delayMs);
  }

  /** Stops for good (until the next request or `reconnectNow()`); the layers above fail their work. */
  private stop(error: ChatError, lastClose?: LastClose): void {
    this.clearTimers();
    this.closeSocket('client stopped');
    this.hooks.onStopped(error);
    this.setState({ status: 'closed', nextAttemptAt: undefined, error, draining: false, ...(lastClose ? { lastClose } : {}) });
  }

  /** Gives up on a socket that is alive on paper only, and goes on as after a network loss. */
  private abandon(ws: WebSocketLike, reason: string): void {
    if (ws !== this.ws) return;
    detach(ws);
    if (ws.terminate) ws.terminate();
    else safeClose(ws, CLIENT_ABANDON_CODE, reason);
    this.onClose(ws, 1006, reason);
  }

  private closeSocket(reason: string): void {
    const ws = this.ws;
    this.ws = undefined;
    if (!ws) return;
    detach(ws);
    safeClose(ws, CLOSE_CODES.NORMAL.code, reason);
  }

  // ------------------------------------------------------------------------------ liveness

  /** While there is work, pings show a dead socket within `pongTimeoutMs`. */
  private startPinging(): void {
    if (this.pingTimer !== undefined || !this.ready || !this.hooks.hasWork()) return;
    const heartbeat = this.currentState.session?.heartbeat_interval_ms ?? MAX_PING_INTERVAL_MS;
    const interval = this.options.pingIntervalMs ?? Math.min(heartbeat > 0 ? heartbeat : MAX_PING_INTERVAL_MS, MAX_PING_INTERVAL_MS);
    this.pingTimer = setInterval(() => this.ping(), interval);
  }

  private ping(): void {
    const ws = this.ws;
    if (!ws || !this.ready || !this.hooks.hasWork()) return this.stopPinging();
    if (this.pongTimer !== undefined) return; // the previous one is still being judged
    const sentAt = Date.now();
    this.send({ type: 'ping', ts: sentAt });
    this.pongTimer = setTimeout(() => {
      this.pongTimer = undefined;
      if (this.lastInboundAt < sentAt) this.abandon(ws, 'no pong');
    }, this.options.pongTimeoutMs ?? DEFAULT_PONG_TIMEOUT_MS);
  }

  private stopPinging(): void {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = undefined;
    this.pongTimer = undefined;
  }

  // ------------------------------------------------------------------------------ plumbing

  private setState(patch: Partial<ConnectionState>): void {
    this.currentState = { ...this.currentState, ...patch };
    this.events.emit('state', this.currentState);
  }

  private clearReconnectTimer(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  private clearStableTimer(): void {
    clearTimeout(this.stableTimer);
    this.stableTimer = undefined;
  }

  private clearTimers(): void {
    this.clearReconnectTimer();
    this.clearStableTimer();
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.stopPinging();
  }

  private random(): number {
    return (this.options.random ?? Math.random)();
  }
}

/** Why a `stop` close code ends the connection. */
function stopError(code: number): ChatError {
  const forbidden = code === CLOSE_CODES.FORBIDDEN.code;
  return new ChatError({
    code: forbidden ? 'forbidden' : 'connection_closed',
    message: forbidden ? 'The gateway refused this client' : `The gateway closed the connection (${code})`,
    closeCode: code,
  });
}

/** A server frame from a message event, or undefined for anything that is not one (dropped). */
function parseFrame(data: unknown): ServerFrame | DeltaFrame | undefined {
  const text = messageText(data);
  if (text === undefined) return undefined;
  let frame: ServerFrame;
  try {
    frame = JSON.parse(text) as ServerFrame;
  } catch {
    return undefined;
  }
  // The compact content delta (issue 23) is the one frame without a `type`.
  if ((frame as { t?: unknown } | null)?.t === 'd') return asDeltaFrame(frame);
  return frame && typeof frame === 'object' && typeof frame.type === 'string' ? frame : undefined;
}
