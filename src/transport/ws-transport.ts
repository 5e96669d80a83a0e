import type { Socket } from 'node:net';
import { WebSocket, type RawData } from 'ws';
import { holdUntilBatchEnds, type HeldWrites } from '../wire/write-batch';
import { textFramePayload } from '../wire/ws-text-frame';
import type { ClientTransport, TransportEvents } from './client-transport';

/** Buffers sent as text frames: the payload is already UTF-8, so ws neither scans nor encodes it. */
const TEXT_FRAME = { binary: false } as const;
const PLAIN_TEXT_FRAME = { binary: false, compress: false } as const;

/**
 * How long a peer gets to answer our close frame, or to read any of what is still queued before it,
 * before the socket is dropped. ws's own limit is 30 s from the close, far too long for a dead peer
 * that the heartbeat just gave up on.
 */
export const CLOSE_GRACE_MS = 2_000;

/**
 * {@link ClientTransport} over a `ws` WebSocket.
 *
 * Frames sent together are written together: the first send corks the TCP socket and the end of
 * the upstream read that produced them uncorks it (`wire/write-batch.ts`), or, outside a read, a
 * `process.nextTick`; so the several chunks that one upstream read often yields (and every frame ws
 * splits into header + payload) leave in one writev instead of one syscall each.
 * The socket is the upgrade request's own (`request.socket`): the one ws writes to.
 */
export class WsTransport implements ClientTransport, HeldWrites {
  private closeTimer: NodeJS.Timeout | undefined;
  private corked = false;
  /**
   * Whether an extension (permessage-deflate) was negotiated: fixed by the handshake, which is over
   * when a transport is made. Read once, because ws builds its `extensions` string on every read.
   */
  private readonly framesAsIs: boolean;
  private readonly uncork = () => {
    this.corked = false;
    this.socket.uncork();
  };

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
  ) {
    this.framesAsIs = ws.extensions === '';
    ws.once('close', () => clearTimeout(this.closeTimer));
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  listen(events: TransportEvents): void {
    this.ws.on('message', (data: RawData, isBinary: boolean) => events.message(toBuffer(data), isBinary));
    this.ws.on('pong', () => events.pong());
    this.ws.once('close', (code: number, reason: Buffer) => events.close(code, reason.toString()));
  }

  send(payload: Buffer, onWritten?: () => void, compress = true): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.corkForTick();
    this.ws.send(payload, compress ? TEXT_FRAME : PLAIN_TEXT_FRAME, onWritten);
  }

  /**
   * A frame already framed goes to the socket ws writes to, behind whatever ws has written. ws's
   * sender writes at once unless it compresses (it sends no Blob here), so without an extension the
   * order on the wire is the order of the calls; `bufferedAmount` counts these bytes too. With
   * permessage-deflate negotiated (the adapter turns it off) the payload goes through ws instead.
   */
  sendWire(frame: Buffer, onWritten?: () => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (!this.framesAsIs) return this.send(textFramePayload(frame), onWritten);
    this.corkForTick();
    this.socket.write(frame, onWritten);
  }

  private corkForTick(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    // Inside an upstream read (wire/write-batch.ts) the read's end uncorks; otherwise the tick's.
    if (!holdUntilBatchEnds(this)) process.nextTick(this.uncork);
  }

  /** The write batch this socket joined is over. */
  flush(): void {
    this.uncork();
  }

  ping(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }

  pauseReading(): void {
    this.ws.pause();
  }

  resumeReading(): void {
    this.ws.resume();
  }

  close(code: number, reason: string, graceMs = CLOSE_GRACE_MS): void {
    if (this.ws.readyState === WebSocket.CLOSED || this.closeTimer) return;
    // The peer's close frame has to be read for the handshake to finish.
    this.ws.resume();
    this.ws.close(code, reason);
    this.dropIfStuck(graceMs, this.ws.bufferedAmount);
  }

  /**
   * Drops the socket once the peer stops making progress: a client that starts reading again within
   * the grace gets everything queued, then the close frame (issue #8: a slow client closed with 4008
   * used to see 1006, because the close frame sat behind its unread data when the socket was dropped).
   */
  private dropIfStuck(graceMs: number, queued: number): void {
    this.closeTimer = setTimeout(() => {
      const now = this.ws.bufferedAmount;
      if (now > 0 && now < queued) return this.dropIfStuck(graceMs, now);
      // Everything, close frame included, left since the last look: the usual wait for the answer.
      if (now === 0 && queued > 0) return this.dropIfStuck(CLOSE_GRACE_MS, 0);
      this.ws.terminate();
    }, graceMs);
    this.closeTimer.unref();
  }
}

/** ws hands over a Buffer unless `binaryType` is changed; normalise the other shapes anyway. */
function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}
