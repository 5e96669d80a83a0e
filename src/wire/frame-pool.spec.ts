import { FramePool } from './frame-pool';
import { textFramePayload, textFramePayloadBytes } from './ws-text-frame';

describe('FramePool', () => {
  const frame = (pool: FramePool, payload: string, reserve = payload.length) => {
    const start = pool.begin(reserve);
    const end = start + pool.buffer.write(payload, start, 'latin1');
    return pool.end(start, end);
  };

  it('hands out text frames, header in front, whose bytes later frames (and a new pool) never overwrite', () => {
    const pool = new FramePool(256);
    const payloads = Array.from({ length: 40 }, (_, i) => `{"n":${i},"pad":"${'p'.repeat(i * 3)}"}`);
    const frames = payloads.map((payload) => frame(pool, payload, payload.length * 3));
    frames.forEach((f, i) => {
      expect(f[0]).toBe(0x81);
      expect(textFramePayloadBytes(f)).toBe(payloads[i]!.length);
      expect(textFramePayload(f).toString()).toBe(payloads[i]);
    });
  });

  it('writes the header the payload needs, not the one its reservation would (126 bytes and over: 16-bit length)', () => {
    const pool = new FramePool(4_096);
    const small = frame(pool, 'x'.repeat(100), 400);
    expect(small.length).toBe(102);
    expect(small[1]).toBe(100);
    const medium = frame(pool, 'y'.repeat(200));
    expect(medium.length).toBe(204);
    expect(medium[1]).toBe(126);
    expect(medium.readUInt16BE(2)).toBe(200);
    expect(textFramePayload(small).toString()).toBe('x'.repeat(100));
  });
});
