/**
 * The compact rendering of a chunk (issue 23, docs/protocol.md "Compact frames"): a socket that
 * asked for `format: "text"` gets a chunk that is nothing but a content delta as
 * `{"t":"d","id":…,"s":…,"x":…}` — the text, its seq and the request id — instead of the
 * upstream's whole chunk JSON. Any chunk that carries more (a role, tool calls, logprobs, a finish
 * reason, usage, a second choice) stays a `chat.chunk`, so nothing but the envelope is ever dropped.
 *
 * The log keeps one form of every frame (the `chat.chunk`); this is a view each reader renders.
 */
import { SOCKET_FRAMES, type FramePool } from '../wire/frame-pool';
import { textFrameOf } from '../wire/ws-text-frame';

/**
 * Chunk fields that are envelope: the same on every chunk of a stream, so a delta frame omits them.
 * A switch, not a Set: every chunk of a text stream asks this of each of its keys, and comparing
 * against literal (internalized) strings costs less than a hash look-up.
 */
function isEnvelopeField(key: string): boolean {
  switch (key) {
    case 'id':
    case 'object':
    case 'created':
    case 'model':
    case 'system_fingerprint':
    case 'service_tier':
    case 'choices':
    case 'usage':
    case 'obfuscation':
      return true;
    default:
      return false;
  }
}

/**
 * The content delta of `chunk` when that is all it carries (`choices[0].delta.content`, a string,
 * with nothing else that is not null), else undefined: such a chunk goes out whole.
 */
export function compactTextOf(chunk: unknown): string | undefined {
  if (chunk === null || typeof chunk !== 'object') return undefined;
  const c = chunk as Record<string, unknown>;
  const choices = c.choices;
  if (!Array.isArray(choices) || choices.length !== 1 || (c.usage !== undefined && c.usage !== null)) return undefined;
  for (const key in c) if (!isEnvelopeField(key) && c[key] !== null) return undefined;
  const choice = choices[0] as Record<string, unknown> | null;
  if (choice === null || typeof choice !== 'object' || choice.index !== 0) return undefined;
  const delta = choice.delta as Record<string, unknown> | null;
  if (delta === null || typeof delta !== 'object' || typeof delta.content !== 'string') return undefined;
  for (const key in choice) if (key !== 'index' && key !== 'delta' && choice[key] !== null) return undefined;
  for (const key in delta) if (key !== 'content' && delta[key] !== null) return undefined;
  return delta.content;
}

/**
 * The same, from a `chat.chunk` frame's `rest` as the log holds it (`,"stream_id":…,"seq":…,"chunk":{…}}`):
 * for frames read back from the log (a replay, a socket catching up, Redis), which carry no parsed chunk.
 */
export function compactTextOfRest(rest: string): string | undefined {
  try {
    return compactTextOf((JSON.parse(`{${rest.slice(1)}`) as { chunk?: unknown }).chunk);
  } catch {
    return undefined;
  }
}

/** The compact frame's JSON: `prefix` is `{"t":"d","id":<id>,"s":` (built once per reader). */
export function renderCompact(prefix: string, seq: number, text: string): string {
  return `${prefix}${seq},"x":${JSON.stringify(text)}}`;
}

/** What a reader known by `id` puts before each compact frame's seq. */
export function compactPrefix(id: string): string {
  return `{"t":"d","id":${JSON.stringify(id)},"s":`;
}

/**
 * The compact frame as a ready WebSocket text frame, byte for byte the UTF-8 of
 * {@link renderCompact}: encoded straight into pooled bytes after room for its header
 * (`wire/frame-pool.ts`), so the socket sends it as it sends a logged frame, in one write, with no
 * header for ws to frame in a write of its own.
 */
export function compactWire(prefix: string, seq: number, text: string, pool: FramePool = SOCKET_FRAMES): Buffer {
  const json = renderCompact(prefix, seq, text);
  // UTF-8 takes at most 3 bytes per UTF-16 unit.
  const most = json.length * 3;
  if (most > pool.maxPayloadBytes) return textFrameOf(json);
  const start = pool.begin(most);
  return pool.end(start, start + pool.buffer.write(json, start));
}
