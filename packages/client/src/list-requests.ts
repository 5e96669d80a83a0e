/**
 * The `stream.list` requests in flight: the caller's (`client.streams()`), which survive a
 * reconnect and go out again on the next socket, and the SDK's own lookups after a reconnect,
 * which die with their socket. Each waits at most `listTimeoutMs` for its answer.
 */
import type { ClientFrame, StreamListResultFrame, StreamSummary } from '@holysheep/protocol';
import { ChatError } from './errors';

/**
 * What `client.streams()` resolves with: the streams, newest first (an array, as before), and
 * whether the list is `partial` — the gateway could not read every replica's streams in time, so
 * streams running or kept elsewhere may be missing. False from gateways that do not say.
 */
export type StreamList = StreamSummary[] & { readonly partial: boolean };

/** What the list requests need from the layers around them. */
export interface ListLink {
  /** Sends a frame on the open socket. */
  send(frame: ClientFrame): void;
  newId(kind: string): string;
  /** A request was sent or settled: the transport re-judges pings and a waiting reconnect. */
  workChanged(): void;
}

interface PendingList {
  /** The SDK's own lookup after a reconnect: dropped with its socket. */
  internal?: boolean;
  resolve: (streams: StreamList) => void;
  reject: (error: ChatError) => void;
  sent: boolean;
  timer?: ReturnType<typeof setTimeout>;
}

export const DEFAULT_LIST_TIMEOUT_MS = 5_000;

/** Pending `stream.list` requests by id; see the module comment. */
export class ListRequests {
  private readonly pending = new Map<string, PendingList>();

  constructor(
    private readonly link: ListLink,
    private readonly timeoutMs = DEFAULT_LIST_TIMEOUT_MS,
  ) {}

  /** How many are waiting for an answer (each is work that needs a socket). */
  get size(): number {
    return this.pending.size;
  }

  /** Registers a caller's request; returns its id, for {@link send} now or {@link sendUnsent} on the next socket. */
  add(resolve: (streams: StreamList) => void, reject: (error: ChatError) => void): string {
    const id = this.link.newId('l');
    this.pending.set(id, { resolve, reject, sent: false });
    return id;
  }

  /** The SDK's own lookup, sent at once; `onResult` gets undefined when it went unanswered. */
  lookup(onResult: (streams: StreamSummary[] | undefined) => void): void {
    const id = this.link.newId('l');
    this.pending.set(id, { internal: true, resolve: (streams) => onResult(streams), reject: () => onResult(undefined), sent: false });
    this.send(id);
  }

  /** Sends one request on the open socket and starts its timeout. */
  send(id: string): void {
    const list = this.pending.get(id);
    if (!list) return;
    list.sent = true;
    clearTimeout(list.timer);
    list.timer = setTimeout(() => this.settle(id, list, new ChatError({ code: 'timeout', message: 'The gateway did not answer stream.list in time' })), this.timeoutMs);
    this.link.send({ type: 'stream.list', id });
    this.link.workChanged();
  }

  /** On a fresh socket: sends every request that is not out yet. */
  sendUnsent(): void {
    for (const [id, list] of this.pending) if (!list.sent) this.send(id);
  }

  onResult(frame: StreamListResultFrame): void {
    const list = frame.id === undefined ? undefined : this.pending.get(frame.id);
    // Not enumerable: the list still equals (and serialises as) the plain array it was before.
    const streams = Object.defineProperty(frame.streams, 'partial', { value: frame.partial === true, enumerable: false }) as StreamList;
    if (list && frame.id !== undefined) this.settle(frame.id, list, streams);
  }

  /**
   * An `error` frame: `unknown_type` (or one naming a list) means a gateway that does not know
   * `stream.list`, so the requests it concerns fail `unsupported`. Others are not about lists.
   */
  onError(code: string, id: string | undefined): void {
    if (code !== 'unknown_type' && (id === undefined || !this.pending.has(id))) return;
    for (const [listId, list] of this.pending) {
      if (list.sent && (id === undefined || id === listId)) {
        this.settle(listId, list, new ChatError({ code: 'unsupported', message: 'This gateway cannot list streams' }));
      }
    }
  }

  /** The socket is gone: the SDK's lookups die with it, the caller's wait for the next one. */
  onSocketLost(): void {
    for (const [id, list] of [...this.pending]) {
      clearTimeout(list.timer);
      if (list.internal) this.pending.delete(id);
      else list.sent = false;
    }
  }

  /** Fails every request with `error`. */
  settleAll(error: ChatError): void {
    for (const [id, list] of this.pending) this.settle(id, list, error);
  }

  private settle(id: string, list: PendingList, outcome: StreamList | ChatError): void {
    if (this.pending.get(id) !== list) return;
    this.pending.delete(id);
    clearTimeout(list.timer);
    if (outcome instanceof ChatError) list.reject(outcome);
    else list.resolve(outcome);
    this.link.workChanged();
  }
}
