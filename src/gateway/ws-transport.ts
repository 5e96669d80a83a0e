import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { ClientTransport } from '../connections/client-transport';

/** Buffers sent as text frames: the payload is already UTF-8, so ws neither scans nor encodes it. */
const TEXT_FRAME = { binary: false } as const;

/**
 * How long a peer gets to answer our close frame before the socket is dropped. ws's own default
 * is 30 s, far too long for a dead peer that the heartbeat just gave up on.
 */
const CLOSE_GRACE_MS = 2_000;

/**
 * {@link ClientTransport} over a `ws` WebSocket.
 *
 * Frames sent in the same tick are written together: the first send corks the TCP socket and a
 * `process.nextTick` uncorks it, so the several chunks that one upstream read often yields (and
 * every frame ws splits into header + payload) leave in one writev instead of one syscall each.
 */
export class WsTransport implements ClientTransport {
  private closeTimer: NodeJS.Timeout | undefined;
  /** ws keeps the net.Socket private; corking it is the only way to batch writes (ws has no API for it). */
  private readonly socket: Socket | undefined;
  private corked = false;
  private readonly uncork = () => {
    this.corked = false;
    this.socket?.uncork();
  };

  constructor(private readonly ws: WebSocket) {
    this.socket = (ws as unknown as { _socket?: Socket })._socket;
    ws.once('close', () => clearTimeout(this.closeTimer));
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(payload: Buffer, onWritten?: () => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (!this.corked && this.socket) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.ws.send(payload, TEXT_FRAME, onWritten);
  }

  ping(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === WebSocket.CLOSED || this.closeTimer) return;
    this.ws.close(code, reason);
    this.closeTimer = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
    this.closeTimer.unref();
  }
}
