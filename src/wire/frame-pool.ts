import { textFrameHeaderBytes, writeTextFrameHeader } from './ws-text-frame';

/** Node's own pool size (`Buffer.poolSize`), which `Buffer.from(string)` carved these frames from before. */
const POOL_BYTES = 8 * 1024;

/**
 * Short-lived WebSocket text frames that one socket renders for itself (a compact delta under its
 * id), written header and payload into one shared buffer and handed to the socket as one view
 * (`ClientConnection.sendWire`): one write per frame, with no header for ws
 * to frame. The slices, like the pool `Buffer.from` used, keep their 8 KiB pool alive while a socket
 * still has them queued; what is queued counts for backpressure as its bytes (`bufferedAmount`), as
 * before. Bytes handed out are never written again: a frame stays valid until it is written.
 *
 * Use: `begin` reserves room and says where the payload goes in {@link buffer}; the caller writes
 * it there synchronously, then `end` puts the header in front and returns the frame.
 */
export class FramePool {
  private pool: Buffer;
  private used = 0;

  constructor(private readonly size = POOL_BYTES) {
    this.pool = Buffer.allocUnsafeSlow(size);
  }

  /** The largest payload a frame from the pool may reserve; larger frames get a buffer of their own. */
  get maxPayloadBytes(): number {
    return this.size >>> 1;
  }

  /** The buffer to write the payload {@link begin} reserved into (read after `begin`: it may be a new one). */
  get buffer(): Buffer {
    return this.pool;
  }

  /** Reserves room for a frame whose payload takes at most `maxPayloadBytes`; returns where the payload goes. */
  begin(maxPayloadBytes: number): number {
    const header = textFrameHeaderBytes(maxPayloadBytes);
    if (this.used + header + maxPayloadBytes > this.size) {
      this.pool = Buffer.allocUnsafeSlow(this.size);
      this.used = 0;
    }
    return this.used + header;
  }

  /** The frame whose payload was written from `start` (what `begin` returned) to `end`. */
  end(start: number, end: number): Buffer {
    const from = writeTextFrameHeader(this.pool, start, end - start);
    this.used = end;
    return this.pool.subarray(from, end);
  }
}

/** The pool every socket's rendered frames come from (one thread: a frame is begun and ended in one call). */
export const SOCKET_FRAMES = new FramePool();
