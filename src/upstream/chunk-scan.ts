import type { ChatCompletionChunk, CompletionUsage } from '@holysheep/protocol';
import { compactTextOf } from '../streams/compact-delta';
import type { UpstreamChunk } from './upstream-request';

/**
 * A single pass over one upstream `data:` payload that checks it is exactly one JSON value as
 * `JSON.parse` reads it (RFC 8259, no BOM, lone surrogates allowed) and reads off what the relay
 * needs per chunk — without building the object graph. Hand-written because no maintained library
 * validates JSON without building it, and `JSON.parse` of every chunk was the largest single item
 * between the gateway and a bare Node relay under callgrind (about 15 k of the gateway's ~65 k
 * instructions per chunk, issue 23); the chunk's text is relayed as received anyway.
 *
 * Measured, it does not pay (the next commit reverts it): 68 k and 76 k instructions per chunk
 * through the gateway against 65 k and 62 k with JSON.parse (bench/profile-chunk.js, Node 20). A
 * charCodeAt costs TurboFan code some 12–23 instructions (it dispatches on the string's
 * representation each time), V8's whole parse about 58 per character, objects included.
 *
 * Exactness over coverage: whatever the scan cannot settle without building values (an escaped key
 * where keys matter, a finish_reason that is a number or an object, a top-level `error`, nesting
 * past {@link MAX_DEPTH}, …) makes it answer {@link SCAN_UNSURE}, and the caller parses as before.
 * `chunk-scan.spec.ts` holds it to `JSON.parse` and the previous logic, case by case and fuzzed.
 */

/** Not one well-formed JSON text: `JSON.parse` throws on it. */
export const SCAN_INVALID = 0;
/** Well-formed JSON whose value is not an object (an array, a string, null…). */
export const SCAN_NOT_OBJECT = 1;
/** A JSON object, and {@link ChunkScan}'s facts describe it exactly. */
export const SCAN_CHUNK = 2;
/** A JSON object the scan does not describe (an `error` member, or something unusual): parse it. */
export const SCAN_UNSURE = 3;
export type ScanResult = typeof SCAN_INVALID | typeof SCAN_NOT_OBJECT | typeof SCAN_CHUNK | typeof SCAN_UNSURE;

/** Deeper than this the scan gives up to `JSON.parse` (which nests as deep as memory allows). */
const MAX_DEPTH = 512;
/** Keys of one tracked object whose last value is non-null, remembered before the scan gives up. */
const MAX_OTHERS = 8;

// Value kinds.
const NULL = 0;
const FALSE = 1;
const TRUE = 2;
const NUMBER = 3;
const STRING = 4;
const OBJECT = 5;
const ARRAY = 6;
/** A key that was never seen. */
const ABSENT = 7;

// What a container is to the relay; only these four are looked into.
const R_NONE = 0;
const R_TOP = 1;
const R_CHOICES = 2;
const R_CHOICE = 3;
const R_DELTA = 4;

// Keys that matter, by the role of the object holding them.
const K_OTHER = 0;
const K_ENVELOPE = 1;
const K_CHOICES = 2;
const K_USAGE = 3;
const K_ERROR = 4;
const K_FINISH = 5;
const K_INDEX = 6;
const K_DELTA = 7;
const K_CONTENT = 8;

// The three objects compactTextOf looks through for members other than its own.
const O_TOP = 0;
const O_CHOICE = 1;
const O_DELTA = 2;

/** The envelope of compact-delta.ts, by length then name: no Set lookup (and no key string) per key. */
function topKeyOf(text: string, start: number, length: number): number {
  switch (length) {
    case 2:
      return isAt(text, start, 'id') ? K_ENVELOPE : K_OTHER;
    case 5:
      if (isAt(text, start, 'model')) return K_ENVELOPE;
      if (isAt(text, start, 'usage')) return K_USAGE;
      return isAt(text, start, 'error') ? K_ERROR : K_OTHER;
    case 6:
      return isAt(text, start, 'object') ? K_ENVELOPE : K_OTHER;
    case 7:
      if (isAt(text, start, 'choices')) return K_CHOICES;
      return isAt(text, start, 'created') ? K_ENVELOPE : K_OTHER;
    case 11:
      return isAt(text, start, 'obfuscation') ? K_ENVELOPE : K_OTHER;
    case 12:
      return isAt(text, start, 'service_tier') ? K_ENVELOPE : K_OTHER;
    case 18:
      return isAt(text, start, 'system_fingerprint') ? K_ENVELOPE : K_OTHER;
    default:
      return K_OTHER;
  }
}

function choiceKeyOf(text: string, start: number, length: number): number {
  if (length === 13) return isAt(text, start, 'finish_reason') ? K_FINISH : K_OTHER;
  if (length === 5) {
    if (isAt(text, start, 'index')) return K_INDEX;
    return isAt(text, start, 'delta') ? K_DELTA : K_OTHER;
  }
  return K_OTHER;
}

/**
 * Called as a constant, never looked up on the text: the texts come in many string representations
 * (sliced, cons, two-byte…), and `text.charCodeAt` on them went megamorphic in the gateway — a
 * generic property load per character that cost more than the JSON.parse this replaces.
 */
const charCodeAt = String.prototype.charCodeAt;

const indexOf = String.prototype.indexOf;
const startsWith = String.prototype.startsWith;

/** Whether `literal` is at `start` in `text`. */
function isAt(text: string, start: number, literal: string): boolean {
  return startsWith.call(text, literal, start);
}

/**
 * A backslash or a control character: where a string token needs reading character by character.
 * Anywhere else, a string runs to the next quote, which `indexOf` finds far faster than a JS loop
 * (a charCodeAt costs some twenty instructions: more than the whole loop body).
 */
const SPECIAL = /[\\\u0000-\u001f]/g;

const isDigit = (c: number) => c >= 48 && c <= 57;
const isHex = (c: number) => (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 102);

/**
 * The scanner, with the facts of the last object it read. One instance serves every chunk (the
 * event loop runs one at a time): its fields are the result, so a scan allocates nothing.
 */
export class ChunkScan {
  /** A top-level `usage` that is an object (not null, not an array): chat.done's usage. */
  usage = false;
  /** `finishReasonOf`'s answer, as the inner range of a string token (start -1: null). */
  finishStart = -1;
  finishEnd = -1;
  finishEscaped = false;
  /** The content delta when `compactTextOf` would return one, as the inner range of its token (start -1: none). */
  contentStart = -1;
  contentEnd = -1;
  contentEscaped = false;

  private text = '';
  private length = 0;
  /** Where the next backslash or control character is at or after (the text's length: none). */
  private special = 0;
  private unsure = false;
  /** Container kinds (OBJECT / ARRAY) and roles, by depth (1 = the top value). */
  private readonly kinds = new Uint8Array(MAX_DEPTH + 1);
  private readonly roles = new Uint8Array(MAX_DEPTH + 1);
  /** Where the last string token's content began and ended, and whether it had an escape. */
  private strStart = 0;
  private strEnd = 0;
  private strEscaped = false;

  // Top level.
  private topKey = K_OTHER;
  private usageKind = ABSENT;
  private errorKind = ABSENT;
  // The (last) `choices` member.
  private choicesKind = ABSENT;
  private choiceCount = 0;
  private reasonStart = -1;
  private reasonEnd = -1;
  private reasonEscaped = false;
  // The choice being read.
  private choiceKey = K_OTHER;
  private choiceIsFirst = false;
  private choiceReasonKind = ABSENT;
  private choiceReasonStart = 0;
  private choiceReasonEnd = 0;
  private choiceReasonEscaped = false;
  // choices[0].
  private firstChoiceKind = ABSENT;
  private indexIsZero = false;
  private deltaKind = ABSENT;
  // choices[0].delta.
  private deltaKey = K_OTHER;
  private contentKind = ABSENT;
  private cStart = 0;
  private cEnd = 0;
  private cEscaped = false;
  /** The key being read in each tracked object (a member not compactTextOf's own), by O_*. */
  private readonly keyStart = new Int32Array(3);
  private readonly keyEnd = new Int32Array(3);
  /**
   * Per tracked object, the keys whose latest value is non-null: a key seen again (JSON.parse keeps
   * the last) replaces its entry, so duplicates end as JSON.parse would leave them.
   */
  private readonly others = new Int32Array(3 * MAX_OTHERS * 2);
  private readonly otherCounts = new Int32Array(3);

  /** Scans `text`; on {@link SCAN_CHUNK} the public fields describe it. */
  scan(text: string): ScanResult {
    this.text = text;
    this.length = text.length;
    this.special = -1;
    this.unsure = false;
    this.topKey = K_OTHER;
    this.usageKind = ABSENT;
    this.errorKind = ABSENT;
    this.resetChoices();
    this.otherCounts[O_TOP] = 0;
    const valid = this.value();
    this.text = '';
    if (!valid) return SCAN_INVALID;
    if (this.kinds[1] !== OBJECT) return SCAN_NOT_OBJECT;
    if (this.unsure || (this.errorKind !== ABSENT && this.errorKind !== NULL)) return SCAN_UNSURE;
    this.usage = this.usageKind === OBJECT;
    const isArray = this.choicesKind === ARRAY;
    this.finishStart = isArray ? this.reasonStart : -1;
    this.finishEnd = this.reasonEnd;
    this.finishEscaped = this.reasonEscaped;
    const compact =
      isArray &&
      this.choiceCount === 1 &&
      (this.usageKind === ABSENT || this.usageKind === NULL) &&
      this.otherCounts[O_TOP] === 0 &&
      this.firstChoiceKind === OBJECT &&
      this.indexIsZero &&
      this.deltaKind === OBJECT &&
      this.contentKind === STRING &&
      this.otherCounts[O_CHOICE] === 0 &&
      this.otherCounts[O_DELTA] === 0;
    this.contentStart = compact ? this.cStart : -1;
    this.contentEnd = this.cEnd;
    this.contentEscaped = this.cEscaped;
    return SCAN_CHUNK;
  }

  private resetChoices(): void {
    this.choicesKind = ABSENT;
    this.choiceCount = 0;
    this.reasonStart = -1;
    this.firstChoiceKind = ABSENT;
    this.indexIsZero = false;
    this.deltaKind = ABSENT;
    this.contentKind = ABSENT;
    this.otherCounts[O_CHOICE] = 0;
    this.otherCounts[O_DELTA] = 0;
  }

  /**
   * The whole text as one value, iteratively (an explicit stack, so nesting costs no JS frames).
   * Returns whether it is well-formed; the roles and keys it passes tell {@link done} what to note.
   */
  private value(): boolean {
    const text = this.text;
    const length = this.length;
    const kinds = this.kinds;
    const roles = this.roles;
    let depth = 0;
    let pos = this.skip(0);
    // Expecting a value at pos.
    for (;;) {
      if (pos >= length) return false;
      const c = charCodeAt.call(text, pos);
      let kind: number;
      if (c === 123 /* { */ || c === 91 /* [ */) {
        if (depth === MAX_DEPTH) {
          // Too deep to track: JSON.parse decides, and builds it.
          this.unsure = true;
          return this.fallbackValidate();
        }
        const role = this.childRole(depth, roles[depth], c === 123 ? OBJECT : ARRAY);
        depth++;
        kinds[depth] = c === 123 ? OBJECT : ARRAY;
        roles[depth] = role;
        pos = this.skip(pos + 1);
        if (c === 91) {
          if (pos < length && charCodeAt.call(text, pos) === 93 /* ] */) {
            pos++;
            depth--;
            kind = ARRAY;
          } else {
            if (role === R_CHOICES) this.startChoice();
            continue;
          }
        } else {
          if (pos < length && charCodeAt.call(text, pos) === 125 /* } */) {
            pos++;
            depth--;
            kind = OBJECT;
          } else {
            pos = this.key(pos, role);
            if (pos < 0) return false;
            continue;
          }
        }
      } else if (c === 34 /* " */) {
        pos = this.string(pos + 1);
        if (pos < 0) return false;
        kind = STRING;
      } else if (c === 45 /* - */ || isDigit(c)) {
        this.strStart = pos;
        pos = this.number(pos);
        if (pos < 0) return false;
        this.strEnd = pos;
        kind = NUMBER;
      } else if (c === 116 /* t */ && isAt(text, pos, 'true')) {
        pos += 4;
        kind = TRUE;
      } else if (c === 102 /* f */ && isAt(text, pos, 'false')) {
        pos += 5;
        kind = FALSE;
      } else if (c === 110 /* n */ && isAt(text, pos, 'null')) {
        pos += 4;
        kind = NULL;
      } else {
        return false;
      }
      // A value of kind `kind` ended in the container at `depth`; close containers it completes.
      for (;;) {
        if (depth === 0) {
          if (kind !== OBJECT) kinds[1] = kind === ARRAY ? ARRAY : NULL;
          return this.skip(pos) === length;
        }
        if (roles[depth] !== R_NONE) this.done(roles[depth], kind);
        pos = this.skip(pos);
        if (pos >= length) return false;
        const d = charCodeAt.call(text, pos);
        if (d === 44 /* , */) {
          pos = this.skip(pos + 1);
          if (kinds[depth] === OBJECT) {
            pos = this.key(pos, roles[depth]);
            if (pos < 0) return false;
          } else if (roles[depth] === R_CHOICES) {
            this.startChoice();
          }
          break;
        }
        if (d !== (kinds[depth] === OBJECT ? 125 /* } */ : 93) /* ] */) return false;
        pos++;
        kind = kinds[depth];
        depth--;
      }
    }
  }

  /** A key, its colon and the whitespace to the value: returns where the value starts, or -1. */
  private key(pos: number, role: number): number {
    const text = this.text;
    if (pos >= this.length || charCodeAt.call(text, pos) !== 34 /* " */) return -1;
    pos = this.string(pos + 1);
    if (pos < 0) return -1;
    if (role !== R_NONE && role !== R_CHOICES) this.noteKey(role);
    pos = this.skip(pos);
    if (pos >= this.length || charCodeAt.call(text, pos) !== 58 /* : */) return -1;
    return this.skip(pos + 1);
  }

  private noteKey(role: number): void {
    // A key's escapes would have to be decoded to know which member it is.
    if (this.strEscaped) this.unsure = true;
    const start = this.strStart;
    const length = this.strEnd - start;
    if (role === R_TOP) {
      const key = topKeyOf(this.text, start, length);
      this.topKey = key;
      if (key === K_CHOICES) this.resetChoices();
      else if (key === K_OTHER || key === K_ERROR) this.otherKey(O_TOP);
    } else if (role === R_CHOICE) {
      const key = choiceKeyOf(this.text, start, length);
      this.choiceKey = key;
      if (this.choiceIsFirst) {
        if (key === K_DELTA) {
          // JSON.parse keeps the last `delta`: forget the one before.
          this.deltaKind = ABSENT;
          this.contentKind = ABSENT;
          this.otherCounts[O_DELTA] = 0;
        } else if (key !== K_INDEX) {
          this.otherKey(O_CHOICE);
        }
      }
    } else {
      const key = length === 7 && isAt(this.text, start, 'content') ? K_CONTENT : K_OTHER;
      this.deltaKey = key;
      if (key === K_OTHER) this.otherKey(O_DELTA);
    }
  }

  /** A member compactTextOf wants null: remember its key until its value is known. */
  private otherKey(object: number): void {
    this.keyStart[object] = this.strStart;
    this.keyEnd[object] = this.strEnd;
  }

  /** The value of such a member is known: its key now counts as non-null or not, whatever came before. */
  private otherValue(object: number, kind: number): void {
    const others = this.others;
    const start = this.keyStart[object];
    const length = this.keyEnd[object] - start;
    const base = object * MAX_OTHERS * 2;
    let count = this.otherCounts[object];
    for (let i = 0; i < count; i++) {
      const s = others[base + 2 * i];
      if (others[base + 2 * i + 1] - s === length && this.sameText(s, start, length)) {
        others[base + 2 * i] = others[base + 2 * (count - 1)];
        others[base + 2 * i + 1] = others[base + 2 * (count - 1) + 1];
        count--;
        break;
      }
    }
    if (kind !== NULL) {
      if (count === MAX_OTHERS) {
        this.unsure = true;
      } else {
        others[base + 2 * count] = start;
        others[base + 2 * count + 1] = start + length;
        count++;
      }
    }
    this.otherCounts[object] = count;
  }

  private sameText(a: number, b: number, length: number): boolean {
    const text = this.text;
    for (let i = 0; i < length; i++) if (charCodeAt.call(text, a + i) !== charCodeAt.call(text, b + i)) return false;
    return true;
  }

  /** The role of a container opening as a value inside one of role `parent` (at `depth`). */
  private childRole(depth: number, parent: number, kind: number): number {
    if (depth === 0) return kind === OBJECT ? R_TOP : R_NONE;
    if (parent === R_TOP) return this.topKey === K_CHOICES && kind === ARRAY ? R_CHOICES : R_NONE;
    if (parent === R_CHOICES) return kind === OBJECT ? R_CHOICE : R_NONE;
    if (parent === R_CHOICE) return this.choiceIsFirst && this.choiceKey === K_DELTA && kind === OBJECT ? R_DELTA : R_NONE;
    return R_NONE;
  }

  /** An element of `choices` starts. */
  private startChoice(): void {
    this.choiceIsFirst = this.choiceCount === 0;
    this.choiceCount++;
    this.choiceKey = K_OTHER;
    this.choiceReasonKind = ABSENT;
  }

  /** A value of `kind` ended inside a container of `role` (the last string / number token is its text). */
  private done(role: number, kind: number): void {
    if (role === R_TOP) {
      const key = this.topKey;
      if (key === K_CHOICES) this.choicesKind = kind;
      else if (key === K_USAGE) this.usageKind = kind;
      else if (key === K_ERROR) {
        this.errorKind = kind;
        this.otherValue(O_TOP, kind);
      } else if (key === K_OTHER) this.otherValue(O_TOP, kind);
    } else if (role === R_CHOICES) {
      if (this.choiceIsFirst && this.choiceCount === 1) this.firstChoiceKind = kind;
      if (kind === OBJECT) this.endChoice();
    } else if (role === R_CHOICE) {
      const key = this.choiceKey;
      if (key === K_FINISH) {
        this.choiceReasonKind = kind;
        this.choiceReasonStart = this.strStart;
        this.choiceReasonEnd = this.strEnd;
        this.choiceReasonEscaped = this.strEscaped;
      }
      if (!this.choiceIsFirst) return;
      if (key === K_INDEX) this.indexIsZero = kind === NUMBER && this.isZero(this.strStart, this.strEnd);
      else if (key === K_DELTA) this.deltaKind = kind;
      else this.otherValue(O_CHOICE, kind);
    } else {
      if (this.deltaKey === K_CONTENT) {
        this.contentKind = kind;
        this.cStart = this.strStart;
        this.cEnd = this.strEnd;
        this.cEscaped = this.strEscaped;
      } else {
        this.otherValue(O_DELTA, kind);
      }
    }
  }

  /** A choice object ended: its finish_reason, if truthy, is the chunk's (finishReasonOf keeps the last). */
  private endChoice(): void {
    switch (this.choiceReasonKind) {
      case STRING:
        if (this.choiceReasonEnd > this.choiceReasonStart) {
          this.reasonStart = this.choiceReasonStart;
          this.reasonEnd = this.choiceReasonEnd;
          this.reasonEscaped = this.choiceReasonEscaped;
        }
        return;
      case NUMBER:
        // 0 is falsy; any other number would be stringified as JavaScript prints it.
        if (!this.isZero(this.choiceReasonStart, this.choiceReasonEnd)) this.unsure = true;
        return;
      case TRUE:
      case OBJECT:
      case ARRAY:
        this.unsure = true;
        return;
      default:
        return;
    }
  }

  /** Whether the number token text[start, end) is ±0 as JSON.parse reads it (1e-400 is). */
  private isZero(start: number, end: number): boolean {
    const text = this.text;
    for (let i = start; i < end; i++) {
      const c = charCodeAt.call(text, i);
      if (c === 101 || c === 69 /* e E */) return Number(text.slice(start, end)) === 0;
      if (c >= 49 && c <= 57) {
        // A non-zero digit: only a large negative exponent could still make it 0.
        for (let j = i + 1; j < end; j++) {
          const e = charCodeAt.call(text, j);
          if (e === 101 || e === 69) return Number(text.slice(start, end)) === 0;
        }
        return false;
      }
    }
    return true;
  }

  /** The contents of a string token whose opening quote is before `pos`: returns the position after its closing quote, or -1. */
  private string(pos: number): number {
    const text = this.text;
    const length = this.length;
    this.strStart = pos;
    let special = this.special;
    if (special < pos) {
      SPECIAL.lastIndex = pos;
      special = this.special = SPECIAL.test(text) ? SPECIAL.lastIndex - 1 : length;
    }
    const close = indexOf.call(text, '"', pos);
    if (close >= 0 && close < special) {
      this.strEnd = close;
      this.strEscaped = false;
      return close + 1;
    }
    let escaped = false;
    for (;;) {
      if (pos >= length) return -1;
      const c = charCodeAt.call(text, pos);
      if (c === 34 /* " */) break;
      if (c < 32) return -1;
      if (c === 92 /* \ */) {
        escaped = true;
        if (++pos >= length) return -1;
        const e = charCodeAt.call(text, pos);
        if (e === 117 /* u */) {
          if (pos + 4 >= length) return -1;
          if (!isHex(charCodeAt.call(text, pos + 1)) || !isHex(charCodeAt.call(text, pos + 2)) || !isHex(charCodeAt.call(text, pos + 3)) || !isHex(charCodeAt.call(text, pos + 4))) return -1;
          pos += 4;
        } else if (e !== 34 && e !== 92 && e !== 47 && e !== 98 && e !== 102 && e !== 110 && e !== 114 && e !== 116) {
          return -1;
        }
      }
      pos++;
    }
    this.strEnd = pos;
    this.strEscaped = escaped;
    return pos + 1;
  }

  /** A number token at `pos`: returns the position after it, or -1. */
  private number(pos: number): number {
    const text = this.text;
    const length = this.length;
    if (charCodeAt.call(text, pos) === 45 /* - */) pos++;
    if (pos >= length) return -1;
    let c = charCodeAt.call(text, pos);
    if (c === 48 /* 0 */) {
      pos++;
    } else if (isDigit(c)) {
      do pos++;
      while (pos < length && isDigit(charCodeAt.call(text, pos)));
    } else {
      return -1;
    }
    if (pos < length && charCodeAt.call(text, pos) === 46 /* . */) {
      pos++;
      if (pos >= length || !isDigit(charCodeAt.call(text, pos))) return -1;
      do pos++;
      while (pos < length && isDigit(charCodeAt.call(text, pos)));
    }
    if (pos < length && (charCodeAt.call(text, pos) | 32) === 101 /* e E */) {
      pos++;
      if (pos < length) {
        c = charCodeAt.call(text, pos);
        if (c === 43 || c === 45 /* + - */) pos++;
      }
      if (pos >= length || !isDigit(charCodeAt.call(text, pos))) return -1;
      do pos++;
      while (pos < length && isDigit(charCodeAt.call(text, pos)));
    }
    return pos;
  }

  /** Past JSON's four whitespace characters (and nothing else: not a BOM, not U+00A0). */
  private skip(pos: number): number {
    const text = this.text;
    const length = this.length;
    while (pos < length) {
      const c = charCodeAt.call(text, pos);
      if (c !== 32 && c !== 10 && c !== 13 && c !== 9) break;
      pos++;
    }
    return pos;
  }

  /** Nesting past MAX_DEPTH: the whole text is JSON.parse's to judge. */
  private fallbackValidate(): boolean {
    try {
      const value: unknown = JSON.parse(this.text);
      this.kinds[1] = value !== null && typeof value === 'object' && !Array.isArray(value) ? OBJECT : ARRAY;
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * A chunk the scan described: the four fields every {@link UpstreamChunk} has, with `chunk` parsed
 * on first read (the public Observable of `HolySheepStreamService.stream` reads it; the relay does
 * not). Its other facts are private fields, invisible to anything enumerating the event.
 */
export class ScannedChunk implements UpstreamChunk {
  /** An own, enumerable accessor (see the constructor): the event has the same keys as a parsed one. */
  declare readonly chunk: ChatCompletionChunk;
  readonly raw: string;
  readonly model: string;
  readonly finishReason: string | null;
  #parsed: ChatCompletionChunk | undefined = undefined;
  readonly #usage: boolean;
  readonly #contentStart: number;
  readonly #contentEnd: number;
  readonly #contentEscaped: boolean;

  /** One shared accessor: every ScannedChunk keeps the same hidden class. */
  static readonly #LAZY_CHUNK: PropertyDescriptor = {
    get(this: ScannedChunk): ChatCompletionChunk {
      return (this.#parsed ??= JSON.parse(this.raw) as ChatCompletionChunk);
    },
    enumerable: true,
    configurable: true,
  };

  constructor(raw: string, model: string, scan: ChunkScan) {
    this.raw = raw;
    this.model = model;
    this.finishReason = scan.finishStart < 0 ? null : tokenText(raw, scan.finishStart, scan.finishEnd, scan.finishEscaped);
    this.#usage = scan.usage;
    this.#contentStart = scan.contentStart;
    this.#contentEnd = scan.contentEnd;
    this.#contentEscaped = scan.contentEscaped;
    Object.defineProperty(this, 'chunk', ScannedChunk.#LAZY_CHUNK);
  }

  /** The chunk's usage when it is an object (parsing the chunk then: the last chunk only). */
  usage(): CompletionUsage | undefined {
    return this.#usage ? this.chunk.usage! : undefined;
  }

  /** compactTextOf(this.chunk), without the parse. */
  compactText(): string | undefined {
    return this.#contentStart < 0 ? undefined : tokenText(this.raw, this.#contentStart, this.#contentEnd, this.#contentEscaped);
  }
}

/** A string token's value from its inner range: a slice, unless an escape needs decoding. */
function tokenText(raw: string, start: number, end: number, escaped: boolean): string {
  return escaped ? (JSON.parse(raw.slice(start - 1, end + 1)) as string) : raw.slice(start, end);
}

/** The usage an event carries for chat.done: an object, or undefined (null, absent or not an object). */
export function usageOf(event: UpstreamChunk): CompletionUsage | undefined {
  if (event instanceof ScannedChunk) return event.usage();
  const usage = event.chunk.usage;
  return usage !== null && typeof usage === 'object' && !Array.isArray(usage) ? usage : undefined;
}

/** {@link compactTextOf} of an event's chunk, without parsing one the scan described. */
export function compactTextOfEvent(event: UpstreamChunk): string | undefined {
  return event instanceof ScannedChunk ? event.compactText() : compactTextOf(event.chunk);
}
