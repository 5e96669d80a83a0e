/**
 * The header of a WebSocket text frame as a server sends it (RFC 6455 §5.2): FIN set, opcode 1,
 * no mask, and the payload length in 7, 7+16 or 7+64 bits. A stream's frames are kept with room for
 * it in front, so the socket that asked for a stream gets each frame, header and all, in one write
 * of bytes encoded once (see `streams/record-slabs.ts`).
 */

/** The most header bytes a text frame of `payloadBytes` can need. */
export function textFrameHeaderBytes(payloadBytes: number): 2 | 4 | 10 {
  return payloadBytes <= 125 ? 2 : payloadBytes <= 0xffff ? 4 : 10;
}

/** Writes the header of a text frame of `payloadBytes` so that it ends at `end`; returns where it starts. */
export function writeTextFrameHeader(target: Buffer, end: number, payloadBytes: number): number {
  const size = textFrameHeaderBytes(payloadBytes);
  const start = end - size;
  target[start] = 0x81;
  if (size === 2) {
    target[start + 1] = payloadBytes;
  } else if (size === 4) {
    target[start + 1] = 126;
    target.writeUInt16BE(payloadBytes, start + 2);
  } else {
    target[start + 1] = 127;
    // Payloads stay far below 2^53: the high word is what Number division leaves.
    target.writeUInt32BE(Math.floor(payloadBytes / 0x1_0000_0000), start + 2);
    target.writeUInt32BE(payloadBytes >>> 0, start + 6);
  }
  return start;
}

/** The payload length of a frame written by {@link writeTextFrameHeader}, read from its header. */
export function textFramePayloadBytes(frame: Buffer): number {
  const length = frame[1]! & 0x7f;
  return frame.length - (length <= 125 ? 2 : length === 126 ? 4 : 10);
}

/** The payload (the UTF-8 JSON) of such a frame: a view, not a copy. */
export function textFramePayload(frame: Buffer): Buffer {
  return frame.subarray(frame.length - textFramePayloadBytes(frame));
}

/** `payload` as a text frame in a buffer of its own, exactly its size (for frames too large to pool). */
export function textFrameOf(payload: string): Buffer {
  const bytes = Buffer.byteLength(payload);
  const header = textFrameHeaderBytes(bytes);
  const frame = Buffer.allocUnsafeSlow(header + bytes);
  frame.write(payload, header);
  writeTextFrameHeader(frame, header, bytes);
  return frame;
}
