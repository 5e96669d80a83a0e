import { textFramePayload } from '../wire/ws-text-frame';
import { FramePrefixes, type StreamFrameType } from './record-frame';
import { RecordSlabs, slabSizeAfter } from './record-slabs';

describe('RecordSlabs', () => {
  // A non-ASCII id and non-ASCII text: byte offsets and UTF-16 lengths differ.
  const prefixes = new FramePrefixes('réq "1"');
  const rest = (seq: number, text: string) => `,"seq":${seq},"chunk":{"text":${JSON.stringify(text)}}}`;
  const push = (store: RecordSlabs, type: StreamFrameType, r: string) => store.push(type, prefixes.prefixOf(type), r);
  const whole = (type: StreamFrameType, r: string) => prefixes.render({ seq: 0, type, rest: r });
  /** The JSON a WebSocket text frame carries. */
  const payload = (wire: Buffer) => textFramePayload(wire).toString();

  it('returns each frame encoded once, whole, as a WebSocket text frame; reads back its rest and the same frame', () => {
    const store = new RecordSlabs();
    const texts = ['a', 'héllo wörld', '日本語のテキスト', '🙂'.repeat(50), 'x'.repeat(5_000)];
    const views = texts.map((text, i) => push(store, 'chat.chunk', rest(i + 1, text)));
    texts.forEach((text, i) => {
      expect(payload(views[i]!)).toBe(whole('chat.chunk', rest(i + 1, text)));
      const frame = store.at(i, i + 1)!;
      expect(frame).toMatchObject({ seq: i + 1, type: 'chat.chunk', rest: rest(i + 1, text) });
      const wire = store.wireAt(i)!;
      expect(wire.equals(views[i]!)).toBe(true);
      expect(JSON.parse(payload(wire))).toEqual({ type: 'chat.chunk', id: 'réq "1"', seq: i + 1, chunk: { text } });
      // The JSON alone (what the Redis log copies) is the same bytes, without the header.
      expect(store.payloadAt(i)!.equals(textFramePayload(views[i]!))).toBe(true);
    });
  });

  it('never rewrites bytes it handed out: views stay valid across new slabs, drops, shrink and clear', () => {
    const store = new RecordSlabs();
    const kept: Array<[Buffer, string]> = [];
    for (let seq = 1; seq <= 400; seq++) {
      const r = rest(seq, `chunk ${seq} ${'ü'.repeat(seq % 37)}`);
      kept.push([push(store, 'chat.chunk', r), whole('chat.chunk', r)]);
      if (seq % 50 === 0) store.dropFirst(30);
    }
    store.shrink();
    push(store, 'chat.done', '}');
    store.clear();
    push(store, 'chat.chunk', rest(1, 'z'.repeat(3_000)));
    for (const [view, text] of kept) expect(payload(view)).toBe(text);
  });

  it('holds at most about half as much again as its frames use, through drops and a shrink', () => {
    const store = new RecordSlabs();
    let used = 0;
    for (let seq = 1; seq <= 600; seq++) {
      // About the size of an OpenAI chunk frame; now and then one larger than a first slab.
      const r = rest(seq, seq % 97 === 0 ? 'y'.repeat(3_000) : `tok ${'w'.repeat(seq % 300)}`);
      used += push(store, 'chat.chunk', r).length;
      // Doubling slabs (what this replaced) held up to twice what they were used for.
      if (used >= 4_096) expect(store.slabSize).toBeLessThanOrEqual(1.5 * used + 2 * 2_048);
    }
    store.dropFirst(590);
    expect(store.length).toBe(10);
    store.shrink();
    const pushedAfter = push(store, 'chat.done', '}');
    expect(payload(pushedAfter)).toBe(whole('chat.done', '}'));
    expect(store.slabSize).toBeLessThan(40 * 1024);
  });

  it('sizes each next slab at half of what the stream holds, between 2 KiB and 32 KiB', () => {
    expect([0, 2_048, 4_096, 6_144, 9_216, 100_000, 1_000_000].map(slabSizeAfter)).toEqual([2_048, 2_048, 2_048, 3_072, 4_608, 32_768, 32_768]);
  });
});
