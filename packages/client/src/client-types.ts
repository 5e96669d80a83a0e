/**
 * The SDK client's public types: its options, its connection state and events, and what `chat()`
 * and `watch()` take.
 */
import type { ChatRequestFrame, ClientFrame, ServerFrame, SessionReadyFrame } from '@holysheep/protocol';
import type { ChatError } from './errors';
import type { BackoffOptions } from './reconnect-policy';
import type { KeyStorage } from './anonymous-key';
import type { StorageLike } from './storage';
import type { TokenPlacement, WebSocketConstructor } from './websocket';

/** What {@link ClientOptions.getToken} is asked for. */
export interface TokenRequest {
  /**
   * True after the server refused the last token (4401), or ahead of the current one's expiry
   * (`reason: 'expiring'`): return a fresh one, or throw / return null to stop.
   */
  refresh: boolean;
  /** `expiring`: the socket's credential is about to expire; the new token is sent in `auth.refresh`. Absent after a refusal. */
  reason?: 'expiring';
}

export interface ClientOptions {
  /** The socket URL, e.g. `wss://gateway.example.com/v1/ws`. */
  url: string;
  /** A fixed bearer token. */
  token?: string;
  /**
   * Called before every connection attempt; after a 4401 with `refresh: true`; and ahead of the
   * credential's expiry (`session.ready.expires_in_ms`), whose answer refreshes the open socket
   * (`auth.refresh`) so streams in flight go on.
   */
  getToken?: (request: TokenRequest) => string | null | undefined | Promise<string | null | undefined>;
  /**
   * Without `token` or `getToken`, the client sends an anonymous key (`anon.<random>`) so a
   * gateway in `AUTH_MODE=none` knows it again after a reconnect or a reload (its streams stay
   * its own). Kept here; `null` = never kept (a new key per client).
   * @defaultValue `storage` when given, else `globalThis.sessionStorage` when there is one
   */
  anonymousKeyStorage?: KeyStorage | null;
  /**
   * Where the client keeps each chat's request id, stream id and last seq (never a token or a
   * text), so the next page load can `restore()` them, and where `Conversation({ persistKey })`
   * keeps its messages. `null`: nothing is kept.
   * @defaultValue `globalThis.sessionStorage` when it is there and writable, else a memory storage of this client's own
   */
  storage?: StorageLike | null;
  /** The WebSocket implementation: defaults to `globalThis.WebSocket`; in Node 20 pass `ws`'s. */
  WebSocket?: WebSocketConstructor;
  /** Where the token travels. `header` needs `ws` (browsers cannot set headers). @defaultValue 'auto' */
  tokenIn?: TokenPlacement;
  /** Reconnect backoff (docs/protocol.md: base 500 ms, cap 30 s, counter reset after 10 s up). */
  backoff?: BackoffOptions;
  /**
   * How content deltas travel (issue 23): `text` asks the gateway for compact frames (~45 bytes a
   * token instead of ~300); the handle's events are the same either way. `json` for the full
   * `chat.chunk` frames on the wire (a gateway older than issue 23 ignores the field either way).
   * @defaultValue 'text' (since 0.3.0; 'json' before)
   */
  format?: 'json' | 'text';
  /** Application ping interval while streams are in flight. @defaultValue min(session heartbeat, 15 s) */
  pingIntervalMs?: number;
  /** How long to wait for any frame after a ping before declaring the socket dead. @defaultValue 5000 */
  pongTimeoutMs?: number;
  /** How long a connection attempt may take to reach `session.ready`. @defaultValue 10000 */
  connectTimeoutMs?: number;
  /** How long `stream.list` may take before pending requests are sent again. @defaultValue 5000 */
  listTimeoutMs?: number;
  /** Randomness for the backoff jitter (tests pass a fixed one). @defaultValue Math.random */
  random?: () => number;
}

/**
 * - `idle`: no socket and nothing to do; the next request connects;
 * - `connecting`: a socket is opening (until `session.ready`);
 * - `open`: `session.ready` received;
 * - `reconnecting`: waiting until `nextAttemptAt` to try again;
 * - `closed`: stopped (4403, 1009, a refused token, `close()`); `error` says why. Any request, or `reconnectNow()`, starts again.
 */
export type ConnectionStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ConnectionState {
  status: ConnectionStatus;
  /**
   * The backoff exponent: reconnects since a connection last stayed up `backoff.resetAfterMs`
   * (10 s) after `session.ready`, or since the client was idle. A greeting alone does not reset it.
   */
  attempt: number;
  /** When reconnecting: the time (ms since the epoch) of the next attempt. */
  nextAttemptAt?: number;
  /** The last close of a socket, as reported. */
  lastClose?: { code: number; reason: string };
  /** When closed: why. */
  error?: ChatError;
  /** The last `session.ready` (kept while reconnecting: models, limits, resume support). */
  session?: SessionReadyFrame;
  /** The server said `session.draining`: a reconnect to another instance is coming. */
  draining: boolean;
}

/** A frame as sent or received, for logs and developer tools. */
export interface FrameRecord {
  direction: 'in' | 'out';
  /**
   * A compact content delta (`{"t":"d",…}`, issue 23) is reported as the `chat.chunk` it stands
   * for: its stream's id, the chunk rebuilt from the delta and the stream's last whole chunk (as the
   * handle's `chunk` event has it).
   */
  frame: ServerFrame | ClientFrame;
}

export interface ClientEvents extends Record<string, unknown> {
  state: ConnectionState;
  frame: FrameRecord;
}

/** The request without `type`; `id` is generated when absent. */
export type ChatRequest = Omit<ChatRequestFrame, 'type' | 'id' | 'format'> & { id?: string };

export interface ChatOptions {
  /** Aborting sends `chat.cancel` (if a socket is open; never opens one for it). */
  signal?: AbortSignal;
}

/** A stream to go on with after a reload ({@link StreamClient.resume}). */
export interface ResumeOptions {
  /** The original request id (`handle.id`). */
  id: string;
  /** Known once the stream had started; without it the stream is looked up by `id`. */
  stream_id?: string;
  /** The last seq the caller has (its text ends there). @defaultValue 0 */
  after_seq?: number;
}

export interface CloseOptions {
  /** Leave the streams running on the gateway and kept in storage (a page unload). @defaultValue false */
  keepStreams?: boolean;
}

export interface WatchOptions {
  /** Frames with seq ≤ this are not replayed. @defaultValue 0 (everything) */
  after_seq?: number;
  /** Aborting stops following the stream here; it does not cancel the generation (use `handle.cancel()`). */
  signal?: AbortSignal;
}
