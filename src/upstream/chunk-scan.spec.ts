import { compactTextOf } from '../streams/compact-delta';
import { ChunkScan, compactTextOfEvent, SCAN_CHUNK, SCAN_INVALID, SCAN_NOT_OBJECT, SCAN_UNSURE, ScannedChunk, usageOf } from './chunk-scan';
import { classifyEvent } from './classify-event';
import { UpstreamError } from './upstream.errors';

/**
 * Differential: the scan must classify every text exactly as JSON.parse and the logic it replaced
 * (the reference below is that logic, copied as it was) — hand-picked edge cases, OpenAI-shaped
 * chunks, and a seeded fuzzer of random JSON and byte-level mutations of valid chunks.
 */

type Facts =
  | { kind: 'invalid' }
  | { kind: 'not_object' }
  | { kind: 'error' }
  | { kind: 'chunk'; finishReason: string | null; usage: unknown; compact: string | undefined };

/** classify-event.ts and chat-stream.ts before the scan: JSON.parse, then the fields read off the object. */
function reference(data: string): Facts {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return { kind: 'invalid' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { kind: 'not_object' };
  const object = parsed as Record<string, unknown>;
  if (object.error !== undefined && object.error !== null) return { kind: 'error' };
  let finishReason: string | null = null;
  const choices = object.choices;
  if (Array.isArray(choices)) {
    for (let i = 0; i < choices.length; i++) {
      const value: unknown = (choices[i] as Record<string, unknown> | null | undefined)?.finish_reason;
      if (value) finishReason = String(value);
    }
  }
  const usage = object.usage;
  return {
    kind: 'chunk',
    finishReason,
    usage: usage !== null && typeof usage === 'object' && !Array.isArray(usage) ? usage : undefined,
    compact: compactTextOf(parsed),
  };
}

/** The same facts as the gateway now gets them: classifyEvent, then the relay's accessors. */
function candidate(data: string): Facts {
  const result = classifyEvent(data, undefined, 'm', false);
  if (typeof result === 'string') throw new Error(`unexpected ${result}`);
  if (result instanceof UpstreamError) {
    if (result.kind === 'error_event') return { kind: 'error' };
    return result.message.endsWith('not JSON') ? { kind: 'invalid' } : { kind: 'not_object' };
  }
  return { kind: 'chunk', finishReason: result.finishReason, usage: usageOf(result), compact: compactTextOfEvent(result) };
}

const scanner = new ChunkScan();

/** The scan alone: its verdict must match JSON.parse's on every text, whatever the fallback would do. */
function scanKind(data: string): Facts['kind'] {
  const result = scanner.scan(data);
  if (result === SCAN_INVALID) return 'invalid';
  if (result === SCAN_NOT_OBJECT) return 'not_object';
  return 'chunk';
}

let lastChecked = '';

function check(data: string): Facts {
  lastChecked = data;
  const expected = reference(data);
  expect({ data, facts: candidate(data) }).toEqual({ data, facts: expected });
  expect({ data, kind: scanKind(data) }).toEqual({ data, kind: expected.kind === 'error' ? 'chunk' : expected.kind });
  // An error member is never the scan's to describe.
  if (expected.kind === 'error') expect(scanner.scan(data)).toBe(SCAN_UNSURE);
  return expected;
}

const envelope = '"id":"chatcmpl-9","object":"chat.completion.chunk","created":1733000000,"model":"gpt-4o-mini","system_fingerprint":"fp_1"';
const contentChunk = (content: string) => `{${envelope},"choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"logprobs":null,"finish_reason":null}],"usage":null}`;

/** Shapes OpenAI-compatible upstreams send. */
const REAL = [
  `{${envelope},"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`,
  contentChunk('Hello'),
  contentChunk(' world, this is a longer delta with "quotes" and a \\ backslash'),
  contentChunk('émoji 😀 and 中文'),
  contentChunk('line\nbreak\ttab\u0001control'),
  contentChunk(''),
  `{${envelope},"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}`,
  `{${envelope},"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}]}`,
  `{${envelope},"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
  `{${envelope},"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}]}`,
  `{${envelope},"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"city\\":\\"Paris\\"}"}}]},"logprobs":null,"finish_reason":null}]}`,
  `{${envelope},"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}`,
  `{${envelope},"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.0001,"bytes":[72,105],"top_logprobs":[]}],"refusal":null},"finish_reason":null}]}`,
  `{${envelope},"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null},{"index":1,"delta":{"content":"b"},"finish_reason":null}]}`,
  `{${envelope},"choices":[{"index":0,"delta":{},"finish_reason":"stop"},{"index":1,"delta":{},"finish_reason":"length"},{"index":2,"delta":{},"finish_reason":null}]}`,
  `{${envelope},"choices":[{"index":1,"delta":{"content":"second choice"},"finish_reason":null}]}`,
  `{${envelope},"service_tier":"default","obfuscation":"x1y2","choices":[{"index":0,"delta":{"content":"tier"},"finish_reason":null}]}`,
  `{${envelope},"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"content_filter"}],"usage":{"total_tokens":3}}`,
  `{"id":"gen-1","provider":"OpenRouter","model":"x","object":"chat.completion.chunk","created":1,"choices":[{"index":0,"delta":{"role":"assistant","content":"vendor"},"finish_reason":null,"native_finish_reason":null}]}`,
  `{"choices":[{"delta":{"content":"no index"}}]}`,
  `{"error":{"message":"overloaded","type":"server_error"}}`,
  `{"choices":[],"error":null}`,
];

/** Hand-picked: every way JSON.parse says no, and the corners of what it accepts. */
const EDGE = [
  // Not JSON, or not one JSON text.
  '', ' ', '{', '}', '{}}', '{} {}', '{}x', '{"a":1,}', '[1,]', '{,}', '{"a"}', '{"a":}', '{"a" 1}', '{a:1}', "{'a':1}", '{"a":1 "b":2}',
  '\uFEFF{}', '{}\uFEFF', '\u00A0{}', '{}\u2028', '\v{}', '\f{}', ' \t\n\r{ \t\n\r"a" \t\n\r: \t\n\r1 \t\n\r} \t\n\r',
  '{"a":01}', '{"a":-01}', '{"a":00}', '{"a":1.}', '{"a":.5}', '{"a":+1}', '{"a":1e}', '{"a":1e+}', '{"a":-}', '{"a":--1}', '{"a":0x10}', '{"a":Infinity}', '{"a":NaN}', '{"a":1_000}',
  '{"a":-0}', '{"a":1e5}', '{"a":1E+5}', '{"a":0.5}', '{"a":1e400}', '{"a":-1e-400}', '{"a":123456789012345678901234567890}', '{"a":0e0}', '{"a":2.5E-3}',
  '{"a":tru}', '{"a":True}', '{"a":nul}', '{"a":nulll}', '{"a":falsey}', '{"a":undefined}',
  '{"a":"\u0000"}', '{"a":"\u001f"}', '{"a":"\n"}', '{"a":"\t"}', '{"a":"\u007f"}', '{"a":"\\x41"}', '{"a":"\\u12"}', '{"a":"\\u12G4"}', '{"a":"\\U0041"}', '{"a":"\\\'"}', '{"a":"\\/"}',
  '{"a":"\\b\\f\\n\\r\\t\\"\\\\\\/"}', '{"a":"\\uD83D\\uDE00"}', '{"a":"\\uD83D"}', '{"a":"\\uDE00x"}', '{"a":"\uD83D"}', '{"a":"\uDE00"}', '{"\uD800":1}', '{"a":"unterminated}', '{"a":"x"', '"\\"',
  // Not objects.
  'null', 'true', 'false', '0', '-0', '"str"', '[]', '[{}]', '[1,2]', ' [ ] ', '[[[]]]',
  // Objects, nested and empty.
  '{}', ' {} ', '{"":""}', '{"a":{}}', '{"a":[]}', '{"a":[{},[],null,true,false,0,""]}', `{"a":${'['.repeat(600)}${']'.repeat(600)}}`, `{"a":${'['.repeat(600)}${']'.repeat(599)}}`,
  `{"a":${'{"b":'.repeat(300)}1${'}'.repeat(300)}}`, `${'['.repeat(1000)}${']'.repeat(1000)}`,
  // The members the relay reads, in every shape.
  '{"error":null}', '{"error":0}', '{"error":false}', '{"error":""}', '{"error":{}}', '{"error":1,"error":null}', '{"error":null,"error":1}', '{"\\u0065rror":1}',
  '{"usage":null}', '{"usage":{}}', '{"usage":[]}', '{"usage":1}', '{"usage":"x"}', '{"usage":{"a":1},"usage":null}', '{"usage":null,"usage":{"total_tokens":1}}',
  '{"choices":null}', '{"choices":{}}', '{"choices":"nope"}', '{"choices":[null,7,"x",[],true]}', '{"choices":[{"finish_reason":"stop"}],"choices":[]}', '{"choices":[],"choices":[{"finish_reason":"stop"}]}',
  '{"choices":[{"finish_reason":""}]}', '{"choices":[{"finish_reason":0}]}', '{"choices":[{"finish_reason":-0.0e5}]}', '{"choices":[{"finish_reason":1e-400}]}', '{"choices":[{"finish_reason":1}]}',
  '{"choices":[{"finish_reason":1.50}]}', '{"choices":[{"finish_reason":true}]}', '{"choices":[{"finish_reason":false}]}', '{"choices":[{"finish_reason":[]}]}', '{"choices":[{"finish_reason":[1,2]}]}',
  '{"choices":[{"finish_reason":{}}]}', '{"choices":[{"finish_reason":"st\\u006fp"}]}', '{"choices":[{"finish_reason":"stop","finish_reason":null}]}', '{"choices":[{"finish_reason":null,"finish_reason":"length"}]}',
  '{"choices":[{"finish_reason":"stop"},{"finish_reason":""}]}', '{"choices":[{"finish_reason":"stop"},{"finish_reason":"length"}]}', '{"choices":[["finish_reason","stop"]]}',
  '{"choices":[{"\\u0066inish_reason":"stop"}]}', '{"choices":[{"x":{"finish_reason":"stop"}}]}',
  // Compact frames: every rule of compactTextOf, and duplicate keys (JSON.parse keeps the last).
  '{"choices":[{"index":0,"delta":{"content":"a"}}]}', '{"choices":[{"index":-0,"delta":{"content":"a"}}]}', '{"choices":[{"index":0.0,"delta":{"content":"a"}}]}',
  '{"choices":[{"index":0e9,"delta":{"content":"a"}}]}', '{"choices":[{"index":1e-400,"delta":{"content":"a"}}]}', '{"choices":[{"index":1,"delta":{"content":"a"}}]}', '{"choices":[{"index":"0","delta":{"content":"a"}}]}',
  '{"choices":[{"index":0,"index":1,"delta":{"content":"a"}}]}', '{"choices":[{"index":1,"index":0,"delta":{"content":"a"}}]}', '{"choices":[{"delta":{"content":"a"},"index":0}]}',
  '{"choices":[{"index":0,"delta":{"content":"a"},"delta":{"content":"b"}}]}', '{"choices":[{"index":0,"delta":{"content":"a"},"delta":null}]}', '{"choices":[{"index":0,"delta":{"content":"a","x":1},"delta":{"content":"b"}}]}',
  '{"choices":[{"index":0,"delta":{"content":"a","content":null}}]}', '{"choices":[{"index":0,"delta":{"content":null,"content":"b"}}]}', '{"choices":[{"index":0,"delta":{"content":1}}]}',
  '{"choices":[{"index":0,"delta":{"content":"a","role":"assistant"}}]}', '{"choices":[{"index":0,"delta":{"role":"assistant","role":null,"content":"a"}}]}', '{"choices":[{"index":0,"delta":{"role":null,"role":"x","content":"a"}}]}',
  '{"choices":[{"index":0,"delta":{"a":1,"b":2,"a":null,"b":null,"content":"a"}}]}', '{"choices":[{"index":0,"delta":{"a":1,"b":2,"a":null,"content":"a"}}]}',
  '{"choices":[{"index":0,"delta":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"content":"a"}}]}', '{"choices":[{"index":0,"delta":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"a":null,"b":null,"c":null,"d":null,"e":null,"f":null,"g":null,"h":null,"i":null,"content":"a"}}]}',
  '{"choices":[{"index":0,"delta":{"\\u0063ontent":"a"}}]}', '{"choices":[{"index":0,"delta":{"content":"a\\"b\\u00e9\\ud83d\\ude00"}}]}', '{"choices":[{"index":0,"delta":{"content":"\\ud83d"}}]}',
  '{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null,"logprobs":null}]}', '{"choices":[{"index":0,"delta":{"content":"a"},"logprobs":{}}]}', '{"choices":[{"index":0,"delta":{"content":"a"},"logprobs":{},"logprobs":null}]}',
  '{"choices":[{"index":0,"delta":{"content":"a"}}],"usage":null}', '{"choices":[{"index":0,"delta":{"content":"a"}}],"usage":{}}', '{"choices":[{"index":0,"delta":{"content":"a"}}],"usage":0}',
  '{"choices":[{"index":0,"delta":{"content":"a"}}],"extra":1}', '{"choices":[{"index":0,"delta":{"content":"a"}}],"extra":null}', '{"choices":[{"index":0,"delta":{"content":"a"}}],"extra":1,"extra":null}',
  '{"choices":[{"index":0,"delta":{"content":"a"}}],"id":{"x":[1]},"model":[],"created":"x"}', '{"choices":[{"index":0,"delta":{"content":"a"}}],"__proto__":1}', '{"choices":[{"index":0,"delta":{"content":"a"}}],"__proto__":null}',
  '{"choices":[{"index":0,"delta":{"content":"a","__proto__":{}}}]}', '{"choices":[{"index":0,"delta":{"content":"a"},"__proto__":[]}]}', '{"choices":[{"index":0,"delta":{"content":"a"}}],"constructor":1}',
  '{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}', '{"choices":[{"index":0,"delta":{"content":"a"}},null]}', '{"choices":[null]}', '{"choices":[[]]}', '{"choices":[{"index":0,"delta":[]}]}',
  '{"choices":[{"index":0,"delta":{"content":"a"}}],"choices":[{"index":0,"delta":{"content":"b"}}]}', '{"choices":[{"index":0,"delta":{"content":"a"}}],"choices":[{"index":0,"delta":{"content":"b","x":1}}]}',
  '{"choices":[{"index":0,"delta":{"content":"a","x":1}}],"choices":[{"index":0,"delta":{"content":"b"}}]}', '{"choices":[{"index":0,"delta":{"content":"a"},"x":1}],"choices":[{"index":0,"delta":{"content":"b"}}]}',
  '{"choices":[{"index":0,"delta":{"content":"a"}}],"\\u0069d":1}', '{"choices":[{"index":0,"delta":{"content":"a"}}],"a\\u0000":null}', '{"choices":[{"index":0,"delta":{"content":"a","x":{"content":"b"}}}]}',
  '{"x":{"choices":[{"index":0,"delta":{"content":"a"}}]}}', '{"choices":[{"index":0,"delta":{"content":"a"},"extra":{"delta":{"content":"z"}}}]}',
];

describe('ChunkScan', () => {
  it('classifies the edge cases exactly as JSON.parse and the previous logic', () => {
    for (const data of EDGE) check(data);
  });

  it('classifies OpenAI-shaped chunks exactly, settling ordinary ones without a fallback', () => {
    for (const data of REAL) check(data);
    for (const data of REAL.filter((d) => !d.startsWith('{"error"'))) expect({ data, result: scanner.scan(data) }).toEqual({ data, result: SCAN_CHUNK });
  });

  it('relays an ordinary chunk without JSON.parse, and parses `chunk` once on first read', () => {
    const parse = jest.spyOn(JSON, 'parse');
    try {
      for (const data of [REAL[0]!, REAL[1]!, REAL[6]!, REAL[9]!]) {
        const event = classifyEvent(data, undefined, 'm', true) as ScannedChunk;
        expect(event).toBeInstanceOf(ScannedChunk);
        usageOf(event);
        compactTextOfEvent(event);
      }
      expect(parse).not.toHaveBeenCalled();
      const event = classifyEvent(REAL[1]!, undefined, 'm', true) as ScannedChunk;
      expect(event.chunk).toEqual(JSON.parse(REAL[1]!));
      expect(event.chunk).toBe(event.chunk);
      expect(parse).toHaveBeenCalledTimes(2);
    } finally {
      parse.mockRestore();
    }
  });

  it('agrees with JSON.parse on seeded random JSON and on random mutations of valid chunks', () => {
    const random = mulberry32(0x5eed);
    const counts = { invalid: 0, not_object: 0, error: 0, chunk: 0, scanned: 0, compact: 0, finish: 0, usage: 0 };
    const tally = (facts: Facts) => {
      counts[facts.kind]++;
      if (facts.kind !== 'chunk') return;
      // Settled by the scan itself, not by the fallback parse: the facts above came from the scan.
      if (scanner.scan(lastChecked) !== SCAN_CHUNK) return;
      counts.scanned++;
      if (facts.compact !== undefined) counts.compact++;
      if (facts.finishReason !== null) counts.finish++;
      if (facts.usage !== undefined) counts.usage++;
    };
    const valid: string[] = [...REAL, ...EDGE.filter((d) => reference(d).kind === 'chunk')];
    for (let i = 0; i < 4000; i++) {
      const data = randomChunk(random);
      tally(check(data));
      if (i % 8 === 0) valid.push(data);
    }
    for (let i = 0; i < 1000; i++) tally(check(randomValue(random, 0)));
    for (let i = 0; i < 8000; i++) tally(check(mutate(random, valid[Math.floor(random() * valid.length)]!)));
    // The generator reaches every outcome often enough for the comparison to mean something.
    for (const [name, count] of Object.entries(counts)) expect({ name, enough: count >= 100 }).toEqual({ name, enough: true });
  });
});

/** A small seeded PRNG (mulberry32): the same cases on every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const ws = (random: Random) => (random() < 0.8 ? '' : pick(random, [' ', '\n', '\r', '\t', '  ', ' \r\n\t']));

const NUMBERS = ['0', '-0', '1', '7', '-12', '0.5', '1e5', '1E+5', '2.5e-3', '1e-400', '-1e-400', '1e400', '0.0', '0e0', '-0.0e5', '123456789012345678901234567890', '3.14159', '1.50'];
const STRINGS = ['', 'a', 'stop', 'length', 'tool_calls', 'x y', '\\"', '\\\\', '\\/', '\\n', '\\u00e9', '\\ud83d\\ude00', '\\ud83d', '\\uDE00', 'é', '😀', '\uD800', 'content', 'a\\tb', '中文'];
const KEYS = ['id', 'object', 'created', 'model', 'system_fingerprint', 'service_tier', 'obfuscation', 'choices', 'usage', 'error', 'index', 'delta', 'content', 'finish_reason', 'role', 'refusal', 'logprobs', 'tool_calls', 'x', '', '__proto__', 'constructor', '\\u0063ontent', 'id\\n'];

function randomScalar(random: Random): string {
  const r = random();
  if (r < 0.25) return 'null';
  if (r < 0.3) return pick(random, ['true', 'false']);
  if (r < 0.55) return pick(random, NUMBERS);
  if (r < 0.75) return `"${pick(random, STRINGS)}"`;
  let s = '';
  for (let n = Math.floor(random() * 6); n > 0; n--) s += pick(random, STRINGS);
  return `"${s}"`;
}

function randomValue(random: Random, depth: number): string {
  const r = random();
  if (depth > 4 || r < 0.5) return randomScalar(random);
  const n = Math.floor(random() * 4);
  const items: string[] = [];
  if (r < 0.75) {
    for (let i = 0; i < n; i++) items.push(`${ws(random)}${randomValue(random, depth + 1)}${ws(random)}`);
    return `[${items.join(',')}${ws(random)}]`;
  }
  for (let i = 0; i < n; i++) items.push(`${ws(random)}"${pick(random, KEYS)}"${ws(random)}:${ws(random)}${randomValue(random, depth + 1)}${ws(random)}`);
  return `{${items.join(',')}${ws(random)}}`;
}

/** Members in any order, some repeated, some odd: mostly chunk-shaped, so every rule is exercised. */
function members(random: Random, make: Array<() => string>, extraKeys: readonly string[]): string {
  const parts: string[] = [];
  for (const m of make) if (random() < 0.85) parts.push(m());
  for (let n = random() < 0.7 ? 0 : Math.floor(random() * 3) + 1; n > 0; n--) {
    parts.push(`"${pick(random, extraKeys)}":${random() < 0.5 ? 'null' : randomValue(random, 3)}`);
  }
  // A repeated member now and then: JSON.parse keeps the last.
  if (random() < 0.15 && parts.length > 0) parts.push(pick(random, parts));
  for (let i = parts.length - 1; i > 0; i--) {
    if (random() < 0.3) {
      const j = Math.floor(random() * (i + 1));
      [parts[i], parts[j]] = [parts[j]!, parts[i]!];
    }
  }
  return `{${ws(random)}${parts.map((p) => p.replace(':', `${ws(random)}:${ws(random)}`)).join(`${ws(random)},${ws(random)}`)}${ws(random)}}`;
}

function randomChunk(random: Random): string {
  const odd = (usual: () => string) => (random() < 0.9 ? usual() : randomValue(random, 2));
  const delta = () =>
    members(random, [() => `"content":${odd(() => `"${pick(random, STRINGS)}${pick(random, STRINGS)}"`)}`, ...(random() < 0.2 ? [() => '"role":"assistant"'] : []), ...(random() < 0.3 ? [() => '"refusal":null'] : [])], ['role', 'tool_calls', 'refusal', 'x', 'content', '\\u0063ontent']);
  const choice = (i: number) =>
    random() < 0.05
      ? randomValue(random, 3)
      : members(
          random,
          [
            () => `"index":${odd(() => (random() < 0.9 ? String(i) : pick(random, NUMBERS)))}`,
            () => `"delta":${odd(delta)}`,
            () => `"logprobs":${random() < 0.9 ? 'null' : '{"content":[]}'}`,
            () => `"finish_reason":${random() < 0.6 ? 'null' : odd(() => `"${pick(random, ['stop', 'length', 'tool_calls', '', 'st\\u006fp'])}"`)}`,
          ],
          ['x', 'finish_reason', 'index', 'delta', 'native_finish_reason', '\\u0069ndex'],
        );
  const choices = () => {
    const n = random() < 0.7 ? 1 : Math.floor(random() * 4);
    return `[${Array.from({ length: n }, (_, i) => `${ws(random)}${choice(i)}${ws(random)}`).join(',')}]`;
  };
  return members(
    random,
    [
      () => '"id":"chatcmpl-1"',
      () => '"object":"chat.completion.chunk"',
      () => '"created":1',
      () => '"model":"m"',
      () => `"choices":${odd(choices)}`,
      ...(random() < 0.3 ? [() => `"usage":${random() < 0.5 ? 'null' : odd(() => '{"total_tokens":3}')}`] : []),
      ...(random() < 0.05 ? [() => `"error":${random() < 0.5 ? 'null' : '{"message":"m"}'}`] : []),
    ],
    ['error', 'usage', 'x', 'system_fingerprint', 'service_tier', 'obfuscation', 'choices', '__proto__', '\\u0069d'],
  );
}

/** JSON's significant characters and the ones it refuses, for byte-level damage. */
const NOISE = ['{', '}', '[', ']', '"', ':', ',', '\\', '0', '1', '9', '-', '+', '.', 'e', 'E', 'u', 'n', 't', 'f', 'a', ' ', '\t', '\n', '\r', '\u0000', '\u001f', '\u000b', '\u00a0', '\uFEFF', '\uD800', '\uDC00', 'é', '😀'];

function mutate(random: Random, text: string): string {
  let out = text;
  for (let n = 1 + Math.floor(random() * 3); n > 0; n--) {
    const at = Math.floor(random() * (out.length + 1));
    const r = random();
    if (r < 0.3) out = out.slice(0, at) + out.slice(at + 1);
    else if (r < 0.6) out = out.slice(0, at) + pick(random, NOISE) + out.slice(at);
    else if (r < 0.85) out = out.slice(0, at) + pick(random, NOISE) + out.slice(at + 1);
    else if (r < 0.92) out = out.slice(0, at);
    else {
      const from = Math.floor(random() * out.length);
      out = out.slice(0, at) + out.slice(from, from + Math.floor(random() * 8)) + out.slice(at);
    }
  }
  return out;
}
