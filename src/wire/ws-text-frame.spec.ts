import type { EventEmitter } from 'node:events';
import { textFrameHeaderBytes, textFramePayloadBytes, writeTextFrameHeader } from './ws-text-frame';

// ws's frame parser; it is exported at run time, not in its type declarations.
const { Receiver } = require('ws') as { Receiver: new (options: { isServer: boolean; maxPayload: number }) => EventEmitter & { write(chunk: Buffer): void } };

describe('WebSocket text frame header', () => {
  /** A frame as the frame store lays it out: header room (the most it may need) in front of the payload. */
  function frame(payload: Buffer, reserve = textFrameHeaderBytes(payload.length)): Buffer {
    const slab = Buffer.alloc(reserve + payload.length);
    payload.copy(slab, reserve);
    return slab.subarray(writeTextFrameHeader(slab, reserve, payload.length));
  }

  // Every length encoding and its edges (7-bit, 16-bit, 64-bit), and a header smaller than its room.
  it.each([0, 1, 125, 126, 127, 65_535, 65_536, 200_000])('%d payload bytes: ws reads one text message with exactly the payload', async (n) => {
    const payload = Buffer.from('é'.repeat(Math.floor(n / 2)) + 'x'.repeat(n % 2));
    expect(payload.length).toBe(n);
    for (const wire of [frame(payload), frame(payload, 10)]) {
      expect(textFramePayloadBytes(wire)).toBe(n);
      // A client's receiver: it refuses masked frames from a server and anything malformed.
      const receiver = new Receiver({ isServer: false, maxPayload: 0 });
      const received = new Promise<[Buffer, boolean]>((resolve, reject) => {
        receiver.on('message', (data: Buffer, isBinary: boolean) => resolve([data, isBinary]));
        receiver.on('error', reject);
      });
      receiver.write(wire);
      const [data, isBinary] = await received;
      expect(isBinary).toBe(false);
      expect(Buffer.compare(data, payload)).toBe(0);
    }
  });
});
