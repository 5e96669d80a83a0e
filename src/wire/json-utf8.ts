/**
 * JSON written as UTF-8 bytes straight into a frame, without building the JSON string first: for
 * the short frames a socket renders per chunk (compact deltas, `streams/compact-delta.ts`), Node's
 * string encoders (`Buffer.from`, `buf.write`) cost more in their call into C++ than the few dozen
 * bytes they encode. The bytes are exactly the UTF-8 of what `JSON.stringify` returns.
 */

/** The most bytes one UTF-16 unit of a string takes in {@link writeJsonString}: `\u001f`, `\ud800`. */
export const JSON_STRING_MAX_BYTES_PER_UNIT = 6;

/** The most bytes {@link writeDecimal} takes: the digits of any safe integer. */
export const DECIMAL_MAX_BYTES = 16;

const HEX = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
/** The two-character escapes JSON.stringify uses (`\b \t \n \f \r`); 0 = `\u00XX`. */
const SHORT_ESCAPE = new Uint8Array(0x20);
SHORT_ESCAPE[0x08] = 0x62;
SHORT_ESCAPE[0x09] = 0x74;
SHORT_ESCAPE[0x0a] = 0x6e;
SHORT_ESCAPE[0x0c] = 0x66;
SHORT_ESCAPE[0x0d] = 0x72;

/**
 * Writes `JSON.stringify(text)` (quotes included) as UTF-8 at `at`; returns where it ends. The
 * target needs `2 + text.length * JSON_STRING_MAX_BYTES_PER_UNIT` bytes of room at most. As in
 * JSON.stringify, a lone surrogate is escaped (`\udXXX`, lowercase), not replaced, and U+2028/U+2029
 * are not escaped.
 */
export function writeJsonString(target: Uint8Array, at: number, text: string): number {
  let p = at;
  target[p++] = 0x22;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      if (c >= 0x20 && c !== 0x22 && c !== 0x5c) {
        target[p++] = c;
        continue;
      }
      target[p++] = 0x5c;
      if (c >= 0x20) target[p++] = c;
      else if (SHORT_ESCAPE[c] !== 0) target[p++] = SHORT_ESCAPE[c]!;
      else p = writeUnicodeEscape(target, p, c);
    } else if (c < 0x800) {
      target[p++] = 0xc0 | (c >> 6);
      target[p++] = 0x80 | (c & 0x3f);
    } else if (c < 0xd800 || c > 0xdfff) {
      target[p++] = 0xe0 | (c >> 12);
      target[p++] = 0x80 | ((c >> 6) & 0x3f);
      target[p++] = 0x80 | (c & 0x3f);
    } else {
      const low = c <= 0xdbff && i + 1 < length ? text.charCodeAt(i + 1) : 0;
      if (low >= 0xdc00 && low <= 0xdfff) {
        i++;
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        target[p++] = 0xf0 | (c >> 18);
        target[p++] = 0x80 | ((c >> 12) & 0x3f);
        target[p++] = 0x80 | ((c >> 6) & 0x3f);
        target[p++] = 0x80 | (c & 0x3f);
      } else {
        target[p++] = 0x5c;
        p = writeUnicodeEscape(target, p, c);
      }
    }
  }
  target[p++] = 0x22;
  return p;
}

/** `uXXXX` (the backslash is written already), lowercase as JSON.stringify writes it. */
function writeUnicodeEscape(target: Uint8Array, at: number, c: number): number {
  target[at] = 0x75;
  target[at + 1] = HEX[c >> 12]!;
  target[at + 2] = HEX[(c >> 8) & 0xf]!;
  target[at + 3] = HEX[(c >> 4) & 0xf]!;
  target[at + 4] = HEX[c & 0xf]!;
  return at + 5;
}

/** Writes a non-negative safe integer in decimal at `at`; returns where it ends. */
export function writeDecimal(target: Uint8Array, at: number, n: number): number {
  let digits = 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  let rest = n;
  for (let p = at + digits - 1; p >= at; p--) {
    target[p] = 0x30 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return at + digits;
}

/** Copies `bytes` (a few dozen: a loop is cheaper than a native copy's call) to `at`; returns where they end. */
export function writeBytes(target: Uint8Array, at: number, bytes: Uint8Array): number {
  const length = bytes.length;
  for (let i = 0; i < length; i++) target[at + i] = bytes[i]!;
  return at + length;
}
