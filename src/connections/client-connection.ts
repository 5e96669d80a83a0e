import type { ServerFrame } from '../protocol';
import type { ClientTransport } from './client-transport';

export interface ConnectionInfo {
  id: string;
  principal: string;
  remoteAddress: string;
  connectedAt: number;
}

/**
 * One client socket as the gateway sees it: identity, activity clock, counters, and the ids of its
 * active streams. Streams are separate objects (`streams/chat-stream.ts`) that send through this.
 */
export class ClientConnection {
  readonly id: string;
  readonly principal: string;
  readonly remoteAddress: string;
  readonly connectedAt: number;
  /** Last inbound data frame, or the end of the last stream: the idle clock starts from here. */
  lastActivityAt: number;
  /** Set when a heartbeat ping goes out, cleared by any sign of life (pong or inbound frame). */
  awaitingPong = false;
  framesIn = 0;
  framesOut = 0;
  bytesOut = 0;
  /** Client-chosen `id` → gateway `stream_id`, for the streams active on this socket. */
  readonly activeStreams = new Map<string, string>();
  /** Why the gateway closed it, for logs and metrics; undefined when the client closed. */
  closeReason: string | undefined;

  constructor(
    info: ConnectionInfo,
    readonly transport: ClientTransport,
  ) {
    this.id = info.id;
    this.principal = info.principal;
    this.remoteAddress = info.remoteAddress;
    this.connectedAt = info.connectedAt;
    this.lastActivityAt = info.connectedAt;
  }

  /** Typed send: the only way a protocol object becomes a frame. */
  send(frame: ServerFrame): void {
    this.sendText(JSON.stringify(frame));
  }

  /** Sends an already-serialised frame (the stream hot path builds chunk frames as text). */
  sendText(text: string): void {
    if (!this.transport.isOpen) return;
    this.framesOut++;
    this.bytesOut += text.length;
    this.transport.send(text);
  }

  /** Closes the socket, remembering why (the first reason wins). */
  close(code: number, reason: string, why: string): void {
    this.closeReason ??= why;
    this.transport.close(code, reason);
  }
}
