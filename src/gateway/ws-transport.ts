import { WebSocket } from 'ws';
import type { ClientTransport } from '../connections/client-transport';

/**
 * How long a peer gets to answer our close frame before the socket is dropped. ws's own default
 * is 30 s, far too long for a dead peer that the heartbeat just gave up on.
 */
const CLOSE_GRACE_MS = 2_000;

/** {@link ClientTransport} over a `ws` WebSocket. */
export class WsTransport implements ClientTransport {
  private closeTimer: NodeJS.Timeout | undefined;

  constructor(private readonly ws: WebSocket) {
    ws.once('close', () => clearTimeout(this.closeTimer));
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(text: string, onWritten?: () => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (onWritten) this.ws.send(text, onWritten);
    else this.ws.send(text);
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
