/**
 * The SDK's public client, over three layers, each in its own file:
 * - the reconnecting transport (transport.ts): one WebSocket opened lazily, its token, pings while
 *   there is work, reconnects by close code; it knows nothing about chat streams;
 * - the stream registry (stream-registry.ts): each stream's phase and last seq, dropping frames
 *   already delivered, and resuming every unfinished stream after a reconnect, so callers see
 *   each piece once;
 * - the `stream.list` requests (list-requests.ts), the caller's and the registry's own lookups.
 * This class wires them together and is the API callers use.
 */
import type { SessionReadyFrame } from '@holysheep/protocol';
import type { ChatHandle } from './chat-handle';
import { ChatError } from './errors';
import { ListRequests, type StreamList } from './list-requests';
import { StreamRegistry, type StreamEntry, type StreamLink } from './stream-registry';
import { browserSessionStorage, MemoryStorage, type StorageLike } from './storage';
import { StreamStore, type StoredStream } from './stream-store';
import { TokenRefresher } from './token-refresh';
import { ReconnectingTransport, type AppFrame } from './transport';

import type { ChatOptions, ChatRequest, ClientEvents, ClientOptions, CloseOptions, ConnectionState, ResumeOptions, WatchOptions } from './client-types';

export type * from './client-types';

let instances = 0;

/** The client {@link createClient} returns: chats, watches and stream lists over one reconnecting socket. */
export class StreamClient {
  private readonly transport: ReconnectingTransport;
  private readonly registry: StreamRegistry;
  private readonly lists: ListRequests;
  private readonly refresher: TokenRefresher | undefined;
  private readonly store: StreamStore | undefined;
  /**
   * Where this client keeps what outlives a page load (its streams' last seq; a `Conversation`'s
   * messages): the `storage` option, else `sessionStorage`, else memory; undefined with `storage: null`.
   */
  readonly storage: StorageLike | undefined;
  private nextId = 1;
  /** Makes generated ids unique across clients and page loads (they name streams on the gateway). */
  private readonly prefix: string;

  constructor(options: ClientOptions) {
    if (!options.url) throw new TypeError('createClient: `url` is required');
    instances += 1;
    this.prefix = `${Math.floor((options.random ?? Math.random)() * 36 ** 6).toString(36)}${instances}`;
    this.storage = options.storage === null ? undefined : (options.storage ?? browserSessionStorage() ?? new MemoryStorage());
    if (this.storage) this.store = new StreamStore(this.storage, options.url);
    // A storage given for the streams keeps the anonymous key too (same lifetime: the streams are that key's).
    const anonymousKeyStorage = options.anonymousKeyStorage !== undefined ? options.anonymousKeyStorage : (options.storage ?? undefined);
    this.transport = new ReconnectingTransport({ ...options, anonymousKeyStorage }, {
      hasWork: () => this.registry.size > 0 || this.lists.size > 0,
      onOpen: (session) => {
        this.refresher?.onOpen(session);
        this.registry.onOpen(session.resume?.enabled === true);
        this.lists.sendUnsent();
      },
      onFrame: (frame) => this.onFrame(frame),
      describeDelta: (frame) => this.registry.chunkFrameOf(frame),
      onSocketLost: () => {
        this.refresher?.reset();
        this.registry.onSocketLost();
        this.lists.onSocketLost();
      },
      onStopped: (error) => {
        this.refresher?.reset();
        this.registry.failAll(error);
        this.lists.settleAll(error);
      },
    });
    const getToken = options.getToken;
    if (getToken) this.refresher = new TokenRefresher({ send: (frame) => this.transport.send(frame), getToken });
    const link = this.link();
    this.registry = new StreamRegistry(link, options.format, this.store);
    this.lists = new ListRequests(link, options.listTimeoutMs);
  }

  // ------------------------------------------------------------------------------ public API

  /** The connection state (a new object on every change). */
  get state(): ConnectionState {
    return this.transport.state;
  }

  /** The last `session.ready`, if any. */
  get session(): SessionReadyFrame | undefined {
    return this.transport.state.session;
  }

  /** Listens to `state` changes or every `frame` in and out; returns the unsubscribe function. */
  on<K extends keyof ClientEvents>(event: K, listener: (value: ClientEvents[K]) => void): () => void {
    return this.transport.events.on(event, listener);
  }

  /**
   * Opens the socket now and keeps it open, reconnecting after drops even with nothing in flight
   * (for UIs that show a connection badge), until the server closes it as idle (4002) or
   * `close()`. Without it the client connects only for work. Resolves on `session.ready`.
   */
  connect(): Promise<SessionReadyFrame> {
    return this.transport.connect();
  }

  /** Skips the wait of a pending reconnect (a "retry now" button), or starts again after `closed`. */
  reconnectNow(): void {
    this.transport.reconnectNow();
  }

  /**
   * Starts one streamed completion. The handle is an async iterable of events; reconnects,
   * resumes and duplicate frames are handled underneath.
   */
  chat(request: ChatRequest, options: ChatOptions = {}): ChatHandle {
    const { id = this.newId('c'), ...rest } = request;
    if (this.registry.has(id)) throw new ChatError({ code: 'duplicate_id', message: `A stream with id "${id}" is already in flight` });
    const entry = this.registry.chatEntry({ type: 'chat.request', id, ...rest, ...this.registry.formatField });
    if (options.signal?.aborted) {
      entry.handle.done(0, 'cancelled', null);
      return entry.handle;
    }
    this.track(entry, options.signal, () => this.registry.cancel(entry.handle));
    return entry.handle;
  }

  /** Follows a stream started elsewhere (another tab, device, or a previous page load). */
  watch(stream_id: string, options: WatchOptions = {}): ChatHandle {
    const entry = this.registry.watchEntry(this.newId('w'), stream_id, options.after_seq ?? 0);
    if (options.signal?.aborted) {
      entry.handle.done(entry.handle.seq, 'cancelled', null);
      return entry.handle;
    }
    this.track(entry, options.signal, () => this.registry.unwatch(entry));
    return entry.handle;
  }

  /**
   * This principal's resumable streams (`stream.list`), newest first; `partial` when the gateway
   * could only list the streams its answering instance knows (its Redis is away or slow). Rejects
   * with `unsupported` on a gateway that does not know `stream.list`.
   */
  streams(): Promise<StreamList> {
    return new Promise((resolve, reject) => {
      const id = this.lists.add(resolve, reject);
      if (this.transport.ready) this.lists.send(id);
      else this.transport.ensureSocket();
    });
  }

  /**
   * The streams this client's storage keeps from an earlier page load (or client) that are not
   * followed here yet: request id, `stream_id` when it had started, last seq delivered.
   */
  storedStreams(): StoredStream[] {
    return (this.store?.list() ?? []).filter((s) => !this.registry.has(s.id));
  }

  /**
   * Goes on with a chat an earlier page load started, by its request id, from `after_seq` (frames
   * up to it are not delivered again: the text before is the caller's). Never sends the request
   * again: without a `stream_id` the stream is first found with `stream.list`; one the gateway no
   * longer has fails with `stream_not_found`. The handle's id is the original request id; one
   * already followed here is returned as is.
   */
  resume(stream: ResumeOptions): ChatHandle {
    const followed = this.registry.handleOf(stream.id);
    if (followed) return followed;
    const entry = this.registry.resumeEntry(stream.id, stream.stream_id, stream.after_seq ?? 0);
    this.registry.add(entry);
    if (this.transport.ready && !this.transport.state.draining) this.registry.resumeNow(entry);
    else this.transport.ensureSocket();
    return entry.handle;
  }

  /** Resumes every stream in {@link storedStreams} (see {@link resume}), from the last seq kept. */
  restore(): ChatHandle[] {
    return this.storedStreams().map((s) => this.resume({ id: s.id, stream_id: s.stream_id, after_seq: s.seq }));
  }

  /**
   * Cancels every stream and closes the socket; the client stays usable (a request reconnects).
   * With `keepStreams`, as a page unload: nothing is cancelled, the storage keeps the streams for
   * the next client's `restore()`, and the handles get no further event.
   */
  close(options: CloseOptions = {}): void {
    // The refresh timer is the client's, not the socket's: a closed client asks for no token.
    this.refresher?.reset();
    if (options.keepStreams) this.registry.releaseAll();
    else this.registry.cancelAll();
    this.lists.settleAll(new ChatError({ code: 'connection_closed', message: 'The client was closed' }));
    this.transport.close();
  }

  /**
   * Drops the socket abruptly, as a network loss would (the gateway sees the close; the client
   * treats it as 1006): a demonstration and test aid for reconnect-and-resume.
   */
  dropConnection(): void {
    this.transport.drop();
  }

  // ------------------------------------------------------------------------------ wiring

  private track(entry: StreamEntry, signal: AbortSignal | undefined, onAbort: () => void): void {
    this.registry.add(entry);
    if (signal) {
      const abort = () => onAbort();
      signal.addEventListener('abort', abort, { once: true });
      entry.handle.result.finally(() => signal.removeEventListener('abort', abort)).catch(() => undefined);
    }
    // A draining instance refuses new work: it waits for the next socket.
    if (this.transport.ready && !this.transport.state.draining) this.registry.dispatch(entry);
    else this.transport.ensureSocket();
  }

  /** Routes what the transport hands up: list answers, refusals, and stream frames. */
  private onFrame(frame: AppFrame): void {
    switch (frame.type) {
      case 'stream.list.result':
        return this.lists.onResult(frame);
      case 'auth.refreshed':
        return this.refresher?.onRefreshed(frame);
      case 'error':
        if (this.refresher?.owns(frame.id)) return this.refresher.onRefused();
        this.lists.onError(frame.code, frame.id);
        if (frame.id !== undefined) this.registry.onRefused(frame.code, frame.message, frame.id);
        return;
      case 'stream.complete':
        return this.registry.onComplete(frame);
      case 'stream.overtaken':
        return this.registry.onOvertaken(frame);
      default:
        return this.registry.onFrame(frame);
    }
  }

  /** What the registry and the list requests reach the transport (and each other) through. */
  private link(): StreamLink {
    const transport = this.transport;
    return {
      send: (frame) => transport.send(frame),
      get ready() {
        return transport.ready;
      },
      newId: (kind) => this.newId(kind),
      workChanged: () => transport.workChanged(),
      draining: () => transport.markDraining(),
      locate: (onResult) => this.lists.lookup(onResult),
    };
  }

  private newId(kind: string): string {
    return `${kind}_${this.prefix}_${this.nextId++}`;
  }
}

/** Creates a client. Nothing connects until the first request (or `connect()`). */
export function createClient(options: ClientOptions): StreamClient {
  return new StreamClient(options);
}
