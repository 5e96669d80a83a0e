import { FlowGate } from '../common/flow-gate';
import { CLOSE_CODES, type ServerFrame } from '../protocol';
import type { ClientTransport } from './client-transport';
import { RelayTotals } from './relay-totals';

export interface BackpressureSettings {
  /** Unsent bytes above which this socket's upstream bodies stop being read. */
  highWaterBytes: number;
  /** Over the mark this long without draining: the client is too slow, close 4008. */
  slowClientTimeoutMs: number;
}

const NO_BACKPRESSURE: BackpressureSettings = { highWaterBytes: Number.MAX_SAFE_INTEGER, slowClientTimeoutMs: Number.MAX_SAFE_INTEGER };

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
  /** Closed while the client cannot keep up; every upstream body feeding this socket pauses. */
  readonly flow = new FlowGate();
  private slowTimer: NodeJS.Timeout | undefined;
  private readonly lowWaterBytes: number;
  /** Bound once: passed with frames sent near or over the mark, to learn when the buffer drains. */
  private readonly onWritten = () => this.checkDrained();

  constructor(
    info: ConnectionInfo,
    readonly transport: ClientTransport,
    private readonly backpressure: BackpressureSettings = NO_BACKPRESSURE,
    private readonly totals: RelayTotals = new RelayTotals(),
  ) {
    this.lowWaterBytes = Math.floor(backpressure.highWaterBytes / 2);
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
    const transport = this.transport;
    if (!transport.isOpen) return;
    // Encoded here once (ws would otherwise measure the string, then encode it while writing),
    // which also gives the byte count for the metrics for free.
    const payload = Buffer.from(text, 'utf8');
    const bytes = payload.length;
    this.framesOut++;
    this.bytesOut += bytes;
    this.totals.framesOut++;
    this.totals.bytesOut += bytes;
    // Only frames that may cross the mark carry a write callback: the common case stays cheap,
    // and the frame that crosses it always tells us when the buffer has drained again.
    if (transport.bufferedAmount + bytes <= this.lowWaterBytes) {
      transport.send(payload);
      return;
    }
    transport.send(payload, this.onWritten);
    if (!this.flow.isPaused && transport.bufferedAmount > this.backpressure.highWaterBytes) this.congested();
  }

  /** Closes the socket, remembering why (the first reason wins). */
  close(code: number, reason: string, why: string): void {
    this.closeReason ??= why;
    this.transport.close(code, reason);
  }

  /** Releases timers; called once the socket has closed. */
  dispose(): void {
    clearTimeout(this.slowTimer);
    this.slowTimer = undefined;
  }

  private congested(): void {
    this.flow.pause();
    const { SLOW_CONSUMER } = CLOSE_CODES;
    this.slowTimer = setTimeout(() => this.close(SLOW_CONSUMER.code, SLOW_CONSUMER.reason, 'slow'), this.backpressure.slowClientTimeoutMs);
  }

  private checkDrained(): void {
    if (!this.flow.isPaused || this.transport.bufferedAmount > this.lowWaterBytes) return;
    clearTimeout(this.slowTimer);
    this.slowTimer = undefined;
    this.flow.resume();
  }
}
