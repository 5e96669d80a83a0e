import { FramePool } from '../wire/frame-pool';
import { textFramePayload } from '../wire/ws-text-frame';
import { compactPrefix, compactTextOf, compactTextOfRest, compactWire, renderCompact } from './compact-delta';

const envelope = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', system_fingerprint: 'fp' };
const delta = (d: Record<string, unknown>, choice: Record<string, unknown> = {}) => ({ ...envelope, choices: [{ index: 0, delta: d, finish_reason: null, logprobs: null, ...choice }] });

describe('compactTextOf', () => {
  it('is the content of a chunk that is nothing but a content delta (null fields are nothing)', () => {
    expect(compactTextOf(delta({ content: 'abcd' }))).toBe('abcd');
    expect(compactTextOf(delta({ content: '', refusal: null }))).toBe('');
  });

  it('is undefined for a chunk that carries anything more: role, tool calls, logprobs, finish, usage, choices', () => {
    expect(compactTextOf(delta({ role: 'assistant', content: '' }))).toBeUndefined();
    expect(compactTextOf(delta({ tool_calls: [{ index: 0 }] }))).toBeUndefined();
    expect(compactTextOf(delta({ content: 'a' }, { logprobs: { content: [] } }))).toBeUndefined();
    expect(compactTextOf(delta({ content: 'a' }, { finish_reason: 'stop' }))).toBeUndefined();
    expect(compactTextOf({ ...delta({ content: 'a' }), usage: { total_tokens: 1 } })).toBeUndefined();
    expect(compactTextOf({ ...envelope, choices: [] })).toBeUndefined();
    expect(compactTextOf({ ...delta({ content: 'a' }), vendor_extra: 1 })).toBeUndefined();
    expect(compactTextOf(delta({ content: 'a' }, { index: 1 }))).toBeUndefined();
  });

  it('reads the same from a logged chat.chunk rest, and renders the frame', () => {
    const rest = `,"stream_id":"str_1","seq":7,"chunk":${JSON.stringify(delta({ content: 'a"b' }))}}`;
    expect(compactTextOfRest(rest)).toBe('a"b');
    expect(JSON.parse(renderCompact(compactPrefix('abcdefgh'), 7, 'a"b'))).toEqual({ t: 'd', id: 'abcdefgh', s: 7, x: 'a"b' });
    expect(renderCompact(compactPrefix('abcdefgh'), 123, 'abcd')).toBe('{"t":"d","id":"abcdefgh","s":123,"x":"abcd"}');
  });
});

describe('compactWire', () => {
  const texts = ['abcd', '', 'a"b\\c', '\n\t\u0001', '\u2028', '你好', '🙂👍🏽', 'lone \ud800', 'x'.repeat(200), 'y'.repeat(3_000) + '界'];

  it('is the rendered compact frame as one WebSocket text frame, header and UTF-8 payload, byte for byte', () => {
    for (const id of ['abcdefgh', 'ид "7"']) {
      const prefix = compactPrefix(id);
      texts.forEach((text, i) => {
        const seq = 10 ** i + i;
        const frame = compactWire(prefix, seq, text);
        expect(frame[0]).toBe(0x81);
        expect(textFramePayload(frame).equals(Buffer.from(renderCompact(compactPrefix(id), seq, text)))).toBe(true);
      });
    }
  });

  it('keeps earlier frames intact as a small pool fills and is replaced; a frame larger than the pool takes its own buffer', () => {
    const pool = new FramePool(1_024);
    const prefix = compactPrefix('r');
    const frames = Array.from({ length: 60 }, (_, i) => compactWire(prefix, i + 1, texts[i % texts.length]!, pool));
    frames.forEach((frame, i) => expect(textFramePayload(frame).toString()).toBe(renderCompact(compactPrefix('r'), i + 1, texts[i % texts.length]!)));
  });
});
