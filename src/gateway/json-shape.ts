/** Bounds on the shape of one inbound JSON text, checked before it is parsed. */
export interface JsonShapeLimits {
  /** Deepest nesting of objects and arrays; the outermost object is level 1. */
  maxDepth: number;
  /** Most values (object members and array elements, counted by their separators) in the text. */
  maxValues: number;
}

export type JsonShapeProblem = { kind: 'depth' | 'values'; limit: number };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

/**
 * Measures a JSON text's nesting depth and value count in one pass over its bytes, stopping at the
 * first limit crossed. `JSON.parse` of a frame at the size cap costs up to ~25 ms when the text is
 * 40k levels deep or 130k tiny values long, and deep values later overflow `JSON.stringify`'s
 * stack; this scan costs well under a millisecond for the same frame, so hostile shapes are
 * refused before anything expensive runs.
 *
 * It does not validate the text: malformed JSON passes here and fails in `JSON.parse`. Strings are
 * skipped with `indexOf` (native memchr), so long string contents cost next to nothing.
 *
 * @returns the first limit crossed, or undefined when the text is within both.
 */
export function checkJsonShape(text: Buffer, limits: JsonShapeLimits): JsonShapeProblem | undefined {
  const length = text.length;
  let depth = 0;
  let values = 0;
  for (let i = 0; i < length; i++) {
    const byte = text[i];
    if (byte === QUOTE) {
      i = closingQuote(text, i + 1);
      if (i < 0) return undefined;
    } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      if (++depth > limits.maxDepth) return { kind: 'depth', limit: limits.maxDepth };
      if (++values > limits.maxValues) return { kind: 'values', limit: limits.maxValues };
    } else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
      depth--;
    } else if (byte === COMMA) {
      if (++values > limits.maxValues) return { kind: 'values', limit: limits.maxValues };
    }
  }
  return undefined;
}

/** Index of the quote that ends the string whose contents start at `from`, or -1 if it never ends. */
function closingQuote(text: Buffer, from: number): number {
  for (let at = text.indexOf(QUOTE, from); at >= 0; at = text.indexOf(QUOTE, at + 1)) {
    // A quote preceded by an odd number of backslashes is escaped.
    let backslashes = 0;
    while (text[at - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
  return -1;
}
