import { DECIMAL_MAX_BYTES, JSON_STRING_MAX_BYTES_PER_UNIT, writeBytes, writeDecimal, writeJsonString } from './json-utf8';

/** What writeJsonString writes for `text`, in a buffer with exactly its documented room. */
function written(text: string): Buffer {
  const target = Buffer.alloc(2 + text.length * JSON_STRING_MAX_BYTES_PER_UNIT);
  return target.subarray(0, writeJsonString(target, 0, text));
}

describe('writeJsonString', () => {
  it('writes the UTF-8 of JSON.stringify: escapes, control characters, U+2028, CJK, emoji', () => {
    const texts = [
      '',
      'plain ascii ~',
      'quote " backslash \\ slash / ',
      '\b\f\n\r\t\u000b\u007f',
      'U+2028 \u2028 U+2029 \u2029 U+FEFF \ufeff',
      'é ñ ß Ω',
      '你好，世界。日本語テキスト',
      '🙂 👍🏽 👨‍👩‍👧 𝄞',
      String.fromCharCode(...Array.from({ length: 0x20 }, (_, i) => i)),
    ];
    for (const text of texts) expect(written(text).toString()).toBe(JSON.stringify(text));
  });

  it('escapes a lone surrogate as JSON.stringify does (lowercase \\udXXX) and joins a pair', () => {
    for (const text of ['\ud800', '\udfff', 'a\ud83d', '\ude42b', '\udc00\ud800', '\ud83d\ude42', '\ud83d\ud83d\ude42']) {
      expect(written(text).equals(Buffer.from(JSON.stringify(text)))).toBe(true);
    }
  });

  it('matches JSON.stringify on random strings of any UTF-16 units, within the room it says it needs', () => {
    let seed = 23;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    // Weighted toward the edges: control characters, ASCII, two- and three-byte characters, surrogates.
    const unit = () => [() => random() * 0x20, () => 0x20 + random() * 0x60, () => 0x80 + random() * 0x780, () => 0x800 + random() * 0xf7ff, () => 0xd800 + random() * 0x800][Math.floor(random() * 5)]!();
    for (let i = 0; i < 2_000; i++) {
      const text = String.fromCharCode(...Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(unit())));
      expect(written(text).equals(Buffer.from(JSON.stringify(text)))).toBe(true);
    }
  });

  it('writes at the offset it is given and returns where it ended', () => {
    const target = Buffer.alloc(16, 0x2e);
    expect(writeJsonString(target, 3, 'ab')).toBe(7);
    expect(target.toString('latin1', 0, 8)).toBe('..."ab".');
  });
});

describe('writeDecimal / writeBytes', () => {
  it('writes non-negative integers as String() does', () => {
    for (const n of [0, 7, 9, 10, 99, 100, 123_456, 2 ** 31, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER]) {
      const target = Buffer.alloc(DECIMAL_MAX_BYTES + 1);
      expect(target.toString('latin1', 1, writeDecimal(target, 1, n))).toBe(String(n));
    }
  });

  it('copies bytes to an offset', () => {
    const target = Buffer.alloc(6, 0x2e);
    expect(writeBytes(target, 2, Buffer.from('abc'))).toBe(5);
    expect(target.toString()).toBe('..abc.');
  });
});
