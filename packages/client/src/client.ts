/**
 * The SDK's client: one WebSocket to the gateway, opened lazily, kept alive with application
 * pings while streams are in flight, and reconnected by close code (docs/protocol.md
 * "Reconnecting"). After a reconnect every unfinished stream is resumed from the last seq it
 * delivered and frames already seen are dropped by seq, so callers see each piece once.
 */
import {
  CLOSE_CODES,
  SUBPROTOCOL,
  type ChatRequestFrame,
  type ClientFrame,
  type ServerFrame,
  type SessionReadyFrame,
  type StreamSummary,
} from '@holysheep/protocol';
import { ChatHandleImpl, type ChatHandle } from './chat-handle';
import { Emitter } from './emitter';
import { ChatError } from './errors';
import { backoffDelay, closeAction, DRAIN_SPREAD_MS } from './reconnect-policy';
import { messageText, OPEN, socketTarget, type WebSocketConstructor, type WebSocketLike } from './websocket';

import type { ChatOptions, ChatRequest, ClientEvents, ClientOptions, ConnectionState, WatchOptions } from './client-types';

export type * from './client-types';

type Phase =
  /** Not sent on any socket yet. */
  | 'queued'
  /** `chat.request` sent on this socket, `chat.started` not received. */
  | 'sent'
  /** Started (or resume sent) on this socket. */
  | 'live'
  /** Sent before a drop, never reported started: being looked up with `stream.list`. */
  | 'locating'
  /** Its socket is gone: to be resumed on the next one. */
  | 'detached';

interface StreamEntry {
  handle: ChatHandleImpl;
  kind: 'chat' | 'watch';
  request?: ChatRequestFrame;
  phase: Phase;
  /** `chat.cancel` was asked for; sent as soon as the stream is live on a socket. */
  cancelRequested: boolean;
}

interface PendingList {
  /** The SDK's own lookup after a reconnect: dropped with its socket. */
  internal?: boolean;
  resolve: (streams: StreamSummary[]) => void;
  reject: (error: ChatError) => void;
  sent: boolean;
  timer?: ReturnType<typeof setTimeout>;
}

const DEFAULT_PONG_TIMEOUT_MS = 5_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_LIST_TIMEOUT_MS = 5_000;
const MAX_PING_INTERVAL_MS = 15_000;
/** The close code the client uses when it abandons a socket itself (application range). */
const CLIENT_ABANDON_CODE = 4000;

let instances = 0;

export class StreamClient {
  private readonly events = new Emitter<ClientEvents>();
  private readonly entries = new Map<string, StreamEntry>();
  private readonly lists = new Map<string, PendingList>();
  /** Streams aborted while no socket was open: cancelled on the next socket, if one opens anyway. */
  private orphanCancels: Array<{ stream_id: string; after_seq: number }> = [];
  private ws: WebSocketLike | undefined;
  private currentState: ConnectionState = { status: 'idle', attempt: 0, draining: false };
  private drainDelayMs: number | undefined;
  private needsFreshToken = false;
  private lastToken: string | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  private lastInboundAt = 0;
  /** `connect()` was called: stay connected without work too (until the server closes an idle socket). */
  private wantConnected = false;
  private nextId = 1;
  private readonly prefix: string;
  /** Bumped for every socket, so an async token lookup for an old attempt is discarded. */
  private generation = 0;

  constructor(private readonly options: ClientOptions) {
    if (!options.url) throw new TypeError('createClient: `url` is required');
    instances += 1;
    this.prefix = `${Math.floor((options.random ?? Math.random)() * 36 ** 6).toString(36)}${instances}`;
  }

  // ------------------------------------------------------------------------------ public API

  /** The connection state (a new object on every change). */
  get state(): ConnectionState {
    return this.currentState;
  }

  /** The last `session.ready`, if any. */
  get session(): SessionReadyFrame | undefined {
    return this.currentState.session;
  }

  /** Listens to `state` changes or every `frame` in and out; returns the unsubscribe function. */
  on<K extends keyof ClientEvents>(event: K, listener: (value: ClientEvents[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  /**
   * Opens the socket now and keeps it open, reconnecting after drops even with nothing in flight
   * (for UIs that show a connection badge), until the server closes it as idle (4002) or
   * `close()`. Without it the client connects only for work. Resolves on `session.ready`.
   */
  connect(): Promise<SessionReadyFrame> {
    this.wantConnected = true;
    if (this.currentState.status === 'open' && this.currentState.session) return Promise.resolve(this.currentState.session);
    return new Promise((resolve, reject) => {
      const off = this.on('state', (state) => {
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

  /** Skips the wait of a pending reconnect (a "retry now" button), or starts again after `closed`. */
  reconnectNow(): void {
    this.wantConnected = true;
    if (this.ws) return;
    this.clearReconnectTimer();
    this.openSocket();
  }

  /**
   * Starts one streamed completion. The handle is an async iterable of events; reconnects,
   * resumes and duplicate frames are handled underneath.
   */
  chat(request: ChatRequest, options: ChatOptions = {}): ChatHandle {
    const { id = this.newId('c'), ...rest } = request;
    if (this.entries.has(id)) throw new ChatError({ code: 'duplicate_id', message: `A stream with id "${id}" is already in flight` });
    const handle = new ChatHandleImpl(id, (h) => this.cancel(h));
    const entry: StreamEntry = { handle, kind: 'chat', request: { type: 'chat.request', id, ...rest }, phase: 'queued', cancelRequested: false };
    if (options.signal?.aborted) {
      handle.done(0, 'cancelled', null);
      return handle;
    }
    this.track(entry, options.signal, () => this.cancel(handle));
    return handle;
  }

  /** Follows a stream started elsewhere (another tab, device, or a previous page load). */
  watch(stream_id: string, options: WatchOptions = {}): ChatHandle {
    const handle = new ChatHandleImpl(this.newId('w'), (h) => this.cancel(h));
    handle.stream_id = stream_id;
    handle.seq = options.after_seq ?? 0;
    const entry: StreamEntry = { handle, kind: 'watch', phase: 'queued', cancelRequested: false };
    if (options.signal?.aborted) {
      handle.done(handle.seq, 'cancelled', null);
      return handle;
    }
    this.track(entry, options.signal, () => this.unwatch(entry));
    return handle;
  }

  /**
   * This principal's resumable streams (`stream.list`), newest first. Rejects with `unsupported`
   * on a gateway that does not know `stream.list`.
   */
  streams(): Promise<StreamSummary[]> {
    return new Promise((resolve, reject) => {
      const id = this.newId('l');
      this.lists.set(id, { resolve, reject, sent: false });
      if (this.isReady()) this.sendList(id);
      else this.ensureSocket();
    });
  }

  /** Cancels every stream and closes the socket; the client stays usable (a request reconnects). */
  close(): void {
    for (const entry of [...this.entries.values()]) {
      if (entry.kind === 'chat' && this.isReady() && (entry.phase === 'sent' || entry.phase === 'live')) {
        this.send({ type: 'chat.cancel', id: entry.handle.id });
      }
      this.entries.delete(entry.handle.id);
      entry.handle.done(entry.handle.seq, 'cancelled', null);
    }
    for (const [id, list] of this.lists) this.settleList(id, list, new ChatError({ code: 'connection_closed', message: 'The client was closed' }));
    this.orphanCancels = [];
    this.wantConnected = false;
    this.clearReconnectTimer();
    this.clearConnectTimers();
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      detach(ws);
      safeClose(ws, CLOSE_CODES.NORMAL.code, 'client closed');
    }
    this.setState({ status: 'closed', nextAttemptAt: undefined, error: undefined, draining: false });
  }

  /**
   * Drops the socket abruptly, as a network loss would (the gateway sees the close; the client
   * treats it as 1006): a demonstration and test aid for reconnect-and-resume.
   */
  dropConnection(): void {
    const ws = this.ws;
    if (!ws) return;
    this.abandon(ws, 'dropped by the client');
  }

  // ------------------------------------------------------------------------------ streams

  private track(entry: StreamEntry, signal: AbortSignal | undefined, onAbort: () => void): void {
    this.entries.set(entry.handle.id, entry);
    if (signal) {
      const abort = () => onAbort();
      signal.addEventListener('abort', abort, { once: true });
      entry.handle.result.finally(() => signal.removeEventListener('abort', abort)).catch(() => undefined);
    }
    if (this.isReady() && !this.currentState.draining) this.dispatch(entry);
    else this.ensureSocket();
  }

  private cancel(handle: ChatHandleImpl): void {
    const entry = this.entries.get(handle.id);
    if (!entry || handle.ended) return;
    if (entry.phase === 'queued') {
      // Never reached the server: nothing to stop.
      this.finish(entry);
      handle.done(handle.seq, 'cancelled', null);
      return;
    }
    if (this.isReady() && (entry.phase === 'sent' || entry.phase === 'live')) {
      entry.cancelRequested = true;
      this.send({ type: 'chat.cancel', id: handle.id });
      return;
    }
    // Detached: an abort never reconnects. The server ends the stream after its grace period; if
    // a socket opens anyway (other work), the stream is cancelled there.
    if (handle.stream_id) this.orphanCancels.push({ stream_id: handle.stream_id, after_seq: handle.seq });
    this.finish(entry);
    handle.done(handle.seq, 'cancelled', null);
    this.idleIfNoWork();
  }

  private unwatch(entry: StreamEntry): void {
    if (entry.handle.ended) return;
    this.finish(entry);
    entry.handle.done(entry.handle.seq, 'cancelled', null);
    this.idleIfNoWork();
  }

  private finish(entry: StreamEntry): void {
    this.entries.delete(entry.handle.id);
    if (!this.hasInFlight()) this.stopPinging();
  }

  /** Sends what a queued or detached entry needs on a fresh socket. */
  private dispatch(entry: StreamEntry): void {
    const { handle } = entry;
    if (entry.kind === 'watch' || handle.stream_id) {
      this.send({ type: 'stream.resume', stream_id: handle.stream_id!, after_seq: handle.seq, id: handle.id });
      entry.phase = 'live';
      if (entry.cancelRequested) this.send({ type: 'chat.cancel', id: handle.id });
    } else {
      this.send(entry.request!);
      entry.phase = 'sent';
    }
    this.startPinging();
  }

  // ------------------------------------------------------------------------------ socket

  private isReady(): boolean {
    return this.ws !== undefined && this.currentState.status === 'open';
  }

  private hasInFlight(): boolean {
    return this.entries.size > 0 || this.lists.size > 0;
  }

  /** Opens a socket unless one is open or opening, or a reconnect is already scheduled. */
  private ensureSocket(): void {
    if (this.ws) return;
    const status = this.currentState.status;
    if (status === 'idle' || status === 'closed') this.openSocket();
  }

  private openSocket(): void {
    if (this.ws) return;
    const generation = ++this.generation;
    this.setState({ status: 'connecting', nextAttemptAt: undefined, error: undefined, draining: false });
    const refresh = this.needsFreshToken;
    void this.resolveToken(refresh).then(
      (token) => {
        if (generation !== this.generation || this.ws) return;
        this.needsFreshToken = false;
        this.createSocket(token);
      },
      (error: unknown) => {
        if (generation !== this.generation) return;
        this.stop(
          new ChatError({
            code: 'unauthorized',
            message: error instanceof Error && error.message ? error.message : 'No valid token is available',
            closeCode: CLOSE_CODES.UNAUTHORIZED.code,
          }),
        );
      },
    );
  }

  private async resolveToken(refresh: boolean): Promise<string | undefined> {
    if (this.options.getToken) {
      const token = (await this.options.getToken({ refresh })) ?? undefined;
      if (refresh && !token) throw new Error('The token was refused and no new one is available');
      this.lastToken = token || undefined;
      return this.lastToken;
    }
    if (refresh) throw new Error('The token was refused (no getToken to refresh it)');
    return this.options.token || undefined;
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

  /** Gives up on a socket that is alive on paper only, and goes on as after a network loss. */
  private abandon(ws: WebSocketLike, reason: string): void {
    if (ws !== this.ws) return;
    detach(ws);
    if (ws.terminate) ws.terminate();
    else safeClose(ws, CLIENT_ABANDON_CODE, reason);
    this.onClose(ws, 1006, reason);
  }

  private onMessage(ws: WebSocketLike, data: unknown): void {
    if (ws !== this.ws) return;
    this.lastInboundAt = Date.now();
    const text = messageText(data);
    if (text === undefined) return;
    let frame: ServerFrame;
    try {
      frame = JSON.parse(text) as ServerFrame;
    } catch {
      return;
    }
    if (!frame || typeof frame !== 'object' || typeof frame.type !== 'string') return;
    this.events.emit('frame', { direction: 'in', frame });
    this.handleFrame(frame);
  }

  private handleFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'session.ready':
        return this.onReady(frame);
      case 'session.draining':
        this.drainDelayMs = frame.reconnect_after_ms;
        return this.setState({ draining: true });
      case 'chat.started': {
        const entry = this.accept(frame.id, frame.seq);
        if (!entry) return;
        entry.phase = 'live';
        entry.handle.started(frame.stream_id, frame.model, frame.seq);
        if (entry.cancelRequested) this.send({ type: 'chat.cancel', id: frame.id });
        return;
      }
      case 'chat.chunk': {
        const entry = this.accept(frame.id, frame.seq);
        if (!entry) return;
        if (!entry.handle.stream_id) entry.handle.stream_id = frame.stream_id;
        entry.phase = 'live';
        return entry.handle.chunk(frame.seq, frame.chunk);
      }
      case 'chat.done': {
        const entry = this.accept(frame.id, frame.seq);
        if (!entry) return;
        this.finish(entry);
        return entry.handle.done(frame.seq, frame.finish_reason, frame.usage);
      }
      case 'chat.error': {
        const entry = this.accept(frame.id, frame.seq);
        if (!entry) return;
        if (frame.code === 'shutting_down' && entry.phase === 'sent' && frame.stream_id === undefined) return this.requeue(entry);
        this.finish(entry);
        entry.handle.fail(
          new ChatError({
            code: frame.code,
            message: frame.message,
            retryable: frame.retryable,
            retryAfterMs: frame.retry_after_ms,
            streamId: frame.stream_id ?? entry.handle.stream_id,
          }),
          frame.seq,
        );
        return this.idleIfNoWork();
      }
      case 'error':
        return this.onErrorFrame(frame.code, frame.message, frame.id);
      case 'stream.list.result': {
        const list = frame.id === undefined ? undefined : this.lists.get(frame.id);
        if (list && frame.id !== undefined) this.settleList(frame.id, list, frame.streams);
        return;
      }
      case 'pong':
        return;
    }
  }

  /** The entry a stream frame belongs to, or undefined to drop it (unknown id, or a seq already delivered). */
  private accept(id: string, seq: number | undefined): StreamEntry | undefined {
    const entry = this.entries.get(id);
    if (!entry || entry.handle.ended) return undefined;
    if (seq !== undefined) {
      if (seq <= entry.handle.seq) return undefined;
    }
    return entry;
  }

  private onErrorFrame(code: string, message: string, id: string | undefined): void {
    if (code === 'unknown_type' || (id !== undefined && this.lists.has(id))) {
      // `stream.list` on a gateway that does not know it.
      for (const [listId, list] of this.lists) {
        if (list.sent && (id === undefined || id === listId)) {
          this.settleList(listId, list, new ChatError({ code: 'unsupported', message: 'This gateway cannot list streams' }));
        }
      }
      if (id === undefined || !this.entries.has(id)) return;
    }
    if (id === undefined) {
      if (code === 'unauthorized') this.needsFreshToken = true;
      return;
    }
    const entry = this.entries.get(id);
    if (!entry || entry.handle.ended) return;
    // Only frames refusing what the client just sent end a stream; a live one is unaffected.
    if (entry.phase !== 'sent' && !(entry.phase === 'live' && entry.handle.status === 'pending')) return;
    if (code === 'shutting_down') return this.requeue(entry);
    this.finish(entry);
    entry.handle.fail(new ChatError({ code: code as ChatError['code'], message }));
    this.idleIfNoWork();
  }

  /** A request the draining instance refused: it goes out again on the next socket. */
  private requeue(entry: StreamEntry): void {
    entry.phase = 'queued';
    this.setState({ draining: true });
  }

  private onReady(frame: SessionReadyFrame): void {
    this.clearConnectTimers();
    this.drainDelayMs = undefined;
    this.setState({ status: 'open', attempt: 0, nextAttemptAt: undefined, error: undefined, session: frame, draining: false });

    const resumeEnabled = frame.resume?.enabled === true;
    const unknownStart: StreamEntry[] = [];
    for (const entry of this.entries.values()) {
      if (entry.phase === 'queued') this.dispatch(entry);
      else if (entry.phase === 'detached') {
        if (entry.kind === 'watch' || entry.handle.stream_id) this.dispatch(entry);
        else if (resumeEnabled) unknownStart.push(entry);
        // Without resume the server aborted it with its socket: sending it again costs nothing twice.
        else this.resend(entry);
      }
    }
    for (const orphan of this.orphanCancels.splice(0)) {
      const id = this.newId('x');
      this.send({ type: 'stream.resume', stream_id: orphan.stream_id, after_seq: orphan.after_seq, id });
      this.send({ type: 'chat.cancel', id });
    }
    if (unknownStart.length > 0) this.findStarted(unknownStart);
    for (const [id, list] of this.lists) if (!list.sent) this.sendList(id);
    this.startPinging();
    this.idleIfNoWork();
  }

  private resend(entry: StreamEntry): void {
    entry.phase = 'queued';
    this.dispatch(entry);
  }

  /**
   * Requests sent before a drop that never reported `chat.started`: `stream.list` finds them by
   * request id (they may be waiting for their first chunk), to resume rather than pay twice.
   */
  private findStarted(entries: StreamEntry[]): void {
    for (const entry of entries) entry.phase = 'locating';
    const settle = (streams: StreamSummary[] | undefined) => {
      for (const entry of entries) {
        if (entry.handle.ended || this.entries.get(entry.handle.id) !== entry || entry.phase !== 'locating') continue;
        const found = streams?.find((s) => s.id === entry.handle.id);
        if (found) entry.handle.stream_id = found.stream_id;
        this.dispatch(entry);
      }
    };
    const id = this.newId('l');
    this.lists.set(id, { internal: true, resolve: (s) => settle(s), reject: () => settle(undefined), sent: false });
    this.sendList(id);
  }

  private sendList(id: string): void {
    const list = this.lists.get(id);
    if (!list) return;
    list.sent = true;
    clearTimeout(list.timer);
    list.timer = setTimeout(
      () => this.settleList(id, list, new ChatError({ code: 'timeout', message: 'The gateway did not answer stream.list in time' })),
      this.options.listTimeoutMs ?? DEFAULT_LIST_TIMEOUT_MS,
    );
    this.send({ type: 'stream.list', id });
    this.startPinging();
  }

  private settleList(id: string, list: PendingList, outcome: StreamSummary[] | ChatError): void {
    if (this.lists.get(id) !== list) return;
    this.lists.delete(id);
    clearTimeout(list.timer);
    if (outcome instanceof ChatError) list.reject(outcome);
    else list.resolve(outcome);
    this.idleIfNoWork();
  }

  private onClose(ws: WebSocketLike, code: number, reason: string): void {
    if (ws !== this.ws) return;
    detach(ws);
    this.ws = undefined;
    this.clearConnectTimers();
    const reachedReady = this.currentState.status === 'open';
    for (const entry of [...this.entries.values()]) {
      if (entry.cancelRequested) {
        // Its chat.cancel went out: it ends here, and an abort never reconnects.
        this.entries.delete(entry.handle.id);
        entry.handle.done(entry.handle.seq, 'cancelled', null);
      } else if (entry.phase === 'sent' || entry.phase === 'live' || entry.phase === 'locating') entry.phase = 'detached';
    }
    for (const [id, list] of [...this.lists]) {
      clearTimeout(list.timer);
      if (list.internal) this.lists.delete(id);
      else list.sent = false;
    }
    const lastClose = { code, reason };
    const work = this.hasInFlight();
    const attempt = reachedReady ? 0 : this.currentState.attempt + 1;
    const action = closeAction(code);
    if (action === 'when-needed') this.wantConnected = false;
    if (action === 'refresh-token' && this.options.getToken) this.needsFreshToken = true;
    if (!work && !this.wantConnected && action !== 'stop') {
      // Nothing needs a socket: the next request opens one.
      this.stopPinging();
      return this.setState({ status: 'idle', attempt: 0, nextAttemptAt: undefined, lastClose, draining: false });
    }

    switch (action) {
      case 'stop':
        return this.stop(
          new ChatError({
            code: code === CLOSE_CODES.FORBIDDEN.code ? 'forbidden' : 'connection_closed',
            message: code === CLOSE_CODES.FORBIDDEN.code ? 'The gateway refused this client' : `The gateway closed the connection (${code})`,
            closeCode: code,
          }),
          lastClose,
        );
      case 'refresh-token':
        if (!this.options.getToken) {
          return this.stop(new ChatError({ code: 'unauthorized', message: 'The token was refused', closeCode: code }), lastClose);
        }
        this.needsFreshToken = true;
        return this.scheduleReconnect(backoffDelay(attempt, this.random, this.options.backoff), attempt, lastClose);
      case 'reconnect-now': {
        const delay = this.drainDelayMs ?? Math.floor(this.random() * DRAIN_SPREAD_MS);
        return this.scheduleReconnect(delay, 0, lastClose);
      }
      case 'when-needed':
        return this.scheduleReconnect(backoffDelay(attempt, this.random, this.options.backoff), attempt, lastClose);
      case 'backoff':
        return this.scheduleReconnect(backoffDelay(attempt, this.random, this.options.backoff), attempt, lastClose);
    }
  }

  private scheduleReconnect(delayMs: number, attempt: number, lastClose: ConnectionState['lastClose']): void {
    this.stopPinging();
    this.clearReconnectTimer();
    this.drainDelayMs = undefined;
    this.setState({ status: 'reconnecting', attempt, nextAttemptAt: Date.now() + delayMs, lastClose, draining: false });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.openSocket();
    }, delayMs);
  }

  /** Stops for good (until the next request or `reconnectNow()`), failing whatever was in flight. */
  private stop(error: ChatError, lastClose?: ConnectionState['lastClose']): void {
    this.clearReconnectTimer();
    this.clearConnectTimers();
    this.stopPinging();
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      detach(ws);
      safeClose(ws, CLOSE_CODES.NORMAL.code, 'client stopped');
    }
    for (const entry of [...this.entries.values()]) {
      this.entries.delete(entry.handle.id);
      if (entry.cancelRequested) {
        entry.handle.done(entry.handle.seq, 'cancelled', null);
        continue;
      }
      entry.handle.fail(new ChatError({ code: error.code, message: error.message, closeCode: error.closeCode, streamId: entry.handle.stream_id }));
    }
    for (const [id, list] of this.lists) this.settleList(id, list, error);
    this.orphanCancels = [];
    this.setState({ status: 'closed', nextAttemptAt: undefined, error, draining: false, ...(lastClose ? { lastClose } : {}) });
  }

  /** With nothing in flight, a reconnect in waiting is not needed (an abort never reconnects). */
  private idleIfNoWork(): void {
    if (this.hasInFlight()) return;
    this.stopPinging();
    if (this.currentState.status === 'reconnecting' && !this.wantConnected) {
      this.clearReconnectTimer();
      this.setState({ status: 'idle', attempt: 0, nextAttemptAt: undefined });
    }
  }

  // ------------------------------------------------------------------------------ liveness

  /** While streams are in flight, pings show a dead socket within `pongTimeoutMs`. */
  private startPinging(): void {
    if (this.pingTimer !== undefined || !this.isReady() || !this.hasInFlight()) return;
    const heartbeat = this.currentState.session?.heartbeat_interval_ms ?? MAX_PING_INTERVAL_MS;
    const interval = this.options.pingIntervalMs ?? Math.min(heartbeat > 0 ? heartbeat : MAX_PING_INTERVAL_MS, MAX_PING_INTERVAL_MS);
    this.pingTimer = setInterval(() => this.ping(), interval);
  }

  private ping(): void {
    const ws = this.ws;
    if (!ws || !this.isReady() || !this.hasInFlight()) return this.stopPinging();
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

  private send(frame: ClientFrame): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return;
    ws.send(JSON.stringify(frame));
    this.events.emit('frame', { direction: 'out', frame });
  }

  private setState(patch: Partial<ConnectionState>): void {
    this.currentState = { ...this.currentState, ...patch };
    this.events.emit('state', this.currentState);
  }

  private clearReconnectTimer(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
  }

  private clearConnectTimers(): void {
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }

  private get random(): () => number {
    return this.options.random ?? Math.random;
  }

  private newId(kind: string): string {
    return `${kind}_${this.prefix}_${this.nextId++}`;
  }
}

function detach(ws: WebSocketLike): void {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = () => undefined; // `ws` throws on an unhandled 'error'
}

function safeClose(ws: WebSocketLike, code: number, reason: string): void {
  try {
    ws.close(code, reason);
  } catch {
    // already closing, or a code this implementation refuses
  }
}

/** Creates a client. Nothing connects until the first request (or `connect()`). */
export function createClient(options: ClientOptions): StreamClient {
  return new StreamClient(options);
}
