/** What a transport reports about its socket. */
export interface TransportEvents {
  /** One complete inbound message (ws has already reassembled fragments). */
  message(data: Buffer, isBinary: boolean): void;
  /** A WebSocket pong control frame. */
  pong(): void;
  /** The socket is closed, by either side; called once. */
  close(code: number, reason: string): void;
}

/**
 * What the connection layer needs from a socket, both ways. The real one wraps a `ws` WebSocket
 * (`ws-transport.ts`, beside it); tests pass a plain object, so the registry, heartbeat and
 * connection logic are testable without sockets.
 */
export interface ClientTransport {
  /** Routes the socket's inbound events; called once, by the connection that owns the transport. */
  listen(events: TransportEvents): void;
  /**
   * Send one text frame (UTF-8 payload). Never throws; a closed transport drops the frame.
   * `onWritten`, when given, runs once the frame has been handed to the OS (or the socket failed).
   * `compress` false: never through permessage-deflate, whatever its size (see `ClientConnection.send`).
   */
  send(payload: Buffer, onWritten?: () => void, compress?: boolean): void;
  /**
   * Write one complete WebSocket text frame, header included (unmasked, FIN set: see
   * `wire/ws-text-frame.ts`), in order with everything sent before. Same terms as {@link send}.
   */
  sendWire(frame: Buffer, onWritten?: () => void): void;
  /** Send a WebSocket ping control frame. */
  ping(): void;
  /**
   * Close with a close frame (code + reason). A peer that makes no progress for `graceMs` — reads
   * nothing of what is still queued, or does not answer the close frame — is then dropped.
   */
  close(code: number, reason: string, graceMs?: number): void;
  /** Stop reading the socket: TCP then pushes back on the client. Messages already read still arrive. */
  pauseReading(): void;
  resumeReading(): void;
  /** Bytes queued but not yet written to the socket. */
  readonly bufferedAmount: number;
  readonly isOpen: boolean;
}
