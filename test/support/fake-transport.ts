import { textFramePayload } from '../../src/wire/ws-text-frame';
import type { ClientTransport, TransportEvents } from '../../src/transport/client-transport';

/**
 * A {@link ClientTransport} without a socket, for unit tests of the connection layer: it records
 * what is sent, pinged and closed, and lets the test play the client (`receive`, `pong`, `closedBy`).
 */
export class FakeTransport implements ClientTransport {
  readonly sent: string[] = [];
  readonly closes: Array<[number, string]> = [];
  pings = 0;
  bufferedAmount = 0;
  isOpen = true;
  readingPaused = false;
  private events: TransportEvents | undefined;

  listen(events: TransportEvents): void {
    this.events = events;
  }
  send(payload: Buffer): void {
    this.sent.push(payload.toString('utf8'));
  }
  sendWire(frame: Buffer): void {
    this.sent.push(textFramePayload(frame).toString('utf8'));
  }
  ping(): void {
    this.pings++;
  }
  close(code: number, reason: string): void {
    this.closes.push([code, reason]);
  }
  pauseReading(): void {
    this.readingPaused = true;
  }
  resumeReading(): void {
    this.readingPaused = false;
  }

  /** The client sends a text frame. */
  receive(frame: unknown): void {
    this.events?.message(Buffer.from(typeof frame === 'string' ? frame : JSON.stringify(frame)), false);
  }
  /** The client answers a ping. */
  pong(): void {
    this.events?.pong();
  }
  /** The socket closes. */
  closedBy(code: number, reason = ''): void {
    this.isOpen = false;
    this.events?.close(code, reason);
  }
  /** Close codes only. */
  get closeCodes(): number[] {
    return this.closes.map(([code]) => code);
  }
}
