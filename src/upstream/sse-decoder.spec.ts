import { createSseDecoder } from './sse-decoder';

/** Feeds `input` cut at `cuts` (byte offsets) and returns the data of every event. */
function decode(input: Buffer, cuts: number[]): string[] {
  const events: string[] = [];
  const errors: string[] = [];
  const decoder = createSseDecoder({ onEvent: (e) => events.push(e.data), onError: (e) => errors.push(e.message) });
  let start = 0;
  for (const cut of [...cuts, input.length]) {
    decoder.write(input.subarray(start, cut));
    start = cut;
  }
  expect(errors).toEqual([]);
  return events;
}

/** Deterministic pseudo-random generator, so a failing split can be reproduced from its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
}

const payloads = [
  '{"choices":[{"delta":{"content":"Hello"}}]}',
  '{"choices":[{"delta":{"content":"wörld 🌍 — 你好 “quotes”"}}]}',
  '{"choices":[{"delta":{"content":"line\\nbreak and 😀😀"}}]}',
  '[DONE]',
];

function fixture(eol: string, options: { bom?: boolean; comments?: boolean } = {}): Buffer {
  let text = options.bom ? '\uFEFF' : '';
  for (const payload of payloads) {
    if (options.comments) text += `: keep-alive${eol}`;
    text += `data: ${payload}${eol}${eol}`;
  }
  return Buffer.from(text, 'utf8');
}

describe('createSseDecoder', () => {
  const variants: Array<[string, Buffer]> = [
    ['LF', fixture('\n')],
    ['CRLF', fixture('\r\n')],
    ['CR', fixture('\r')],
    ['LF with comments and BOM', fixture('\n', { bom: true, comments: true })],
    ['CRLF with comments and BOM', fixture('\r\n', { bom: true, comments: true })],
    ['CR with comments', fixture('\r', { comments: true })],
  ];

  describe.each(variants)('%s', (_name, input) => {
    it('decodes the whole buffer in one read', () => {
      expect(decode(input, [])).toEqual(payloads);
    });

    it('decodes when fed one byte at a time (splitting every UTF-8 sequence and CRLF pair)', () => {
      expect(decode(input, Array.from({ length: input.length - 1 }, (_, i) => i + 1))).toEqual(payloads);
    });

    it('decodes at every single split point', () => {
      for (let cut = 1; cut < input.length; cut++) expect(decode(input, [cut])).toEqual(payloads);
    });

    it('decodes under 200 random splittings', () => {
      for (let seed = 1; seed <= 200; seed++) {
        const random = prng(seed);
        const cuts = Array.from({ length: 1 + Math.floor(random() * 12) }, () => 1 + Math.floor(random() * (input.length - 1)));
        expect(decode(input, [...new Set(cuts)].sort((a, b) => a - b))).toEqual(payloads);
      }
    });
  });

  it('joins multi-line data with LF and ignores id, event names and retry fields', () => {
    const input = Buffer.from('id: 7\nevent: message\nretry: 100\ndata: a\ndata: b\n\n');
    const seen: Array<{ data: string; event?: string }> = [];
    const decoder = createSseDecoder({ onEvent: (e) => seen.push({ data: e.data, event: e.event }), onError: () => undefined });
    decoder.write(input);
    expect(seen).toEqual([{ data: 'a\nb', event: 'message' }]);
  });

  it('does not dispatch an event whose blank line has not arrived yet', () => {
    const events = decode(Buffer.from('data: {"partial":true}\n'), []);
    expect(events).toEqual([]);
  });

  it('strips only one leading BOM, and only at the very start', () => {
    const events = decode(Buffer.from('\uFEFFdata: \uFEFFx\n\n'), [1, 2]);
    expect(events).toEqual(['\uFEFFx']);
  });

  it('ignores, as the WHATWG rules say, an unknown field, a retry that is not a number and a stray BOM line, and goes on', () => {
    const input = Buffer.from('data: a\n\nx-vendor: 1\ndata: b\n\nretry: abc\n\n\uFEFF\ndata: c\n\n\uFEFFdata: lost\n\ndata: d\n\n');
    for (let cut = 1; cut < input.length; cut++) expect(decode(input, [cut])).toEqual(['a', 'b', 'c', 'd']);
  });

  it('tells each ignored line to onIgnoredLine, with its reason, and nothing to onError', () => {
    const ignored: Array<[string, string | undefined]> = [];
    const errors: string[] = [];
    const events: string[] = [];
    const decoder = createSseDecoder({
      onEvent: (e) => events.push(e.data),
      onError: (e) => errors.push(e.type),
      onIgnoredLine: (e) => ignored.push([e.type, e.line]),
    });
    decoder.write(Buffer.from('x-vendor: 1\nretry: abc\n\uFEFF\ndata: a\n\n'));
    expect(ignored).toEqual([
      ['unknown-field', 'x-vendor: 1'],
      ['invalid-retry', 'retry: abc'],
      ['unknown-field', '\uFEFF'],
    ]);
    expect(errors).toEqual([]);
    expect(events).toEqual(['a']);
  });

  it('reports an event larger than maxBufferSize instead of buffering without bound', () => {
    const errors: string[] = [];
    const decoder = createSseDecoder({ onEvent: () => undefined, onError: (e) => errors.push(e.type), maxBufferSize: 1024 });
    decoder.write(Buffer.from(`data: ${'x'.repeat(2048)}`));
    expect(errors).toEqual(['max-buffer-size-exceeded']);
  });

  it('stops at a buffer overflow, the one fatal error: later writes are ignored, not thrown on', () => {
    const errors: string[] = [];
    const events: string[] = [];
    const decoder = createSseDecoder({ onEvent: (e) => events.push(e.data), onError: (e) => errors.push(e.type), maxBufferSize: 1024 });
    decoder.write(Buffer.from(`data: ${'x'.repeat(2048)}`));
    expect(() => decoder.write(Buffer.from('\n\ndata: after\n\n'))).not.toThrow();
    expect(errors).toEqual(['max-buffer-size-exceeded']);
    expect(events).toEqual([]);
  });
});
