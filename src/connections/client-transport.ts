/**
 * What the connection layer needs from a socket. The real one wraps a `ws` WebSocket
 * (`gateway/ws-transport.ts`); tests pass a plain object, so the registry and heartbeat logic are
 * testable without sockets.
 */
export interface ClientTransport {
  /**
   * Send one text frame (UTF-8 payload). Never throws; a closed transport drops the frame.
   * `onWritten`, when given, runs once the frame has been handed to the OS (or the socket failed).
   */
  send(payload: Buffer, onWritten?: () => void): void;
  /** Send a WebSocket ping control frame. */
  ping(): void;
  /** Close with a close frame (code + reason), dropping the socket if the peer does not answer. */
  close(code: number, reason: string): void;
  /** Bytes queued but not yet written to the socket. */
  readonly bufferedAmount: number;
  readonly isOpen: boolean;
}
