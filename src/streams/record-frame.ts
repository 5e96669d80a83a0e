import type { StreamFrame } from '@holysheep/protocol';

export type StreamFrameType = StreamFrame['type'];

/**
 * One frame of a stream's record (the log holds one `StreamRecord` per stream, of frames):
 * everything but the `id`, which belongs to the socket that receives it (a resume may name the
 * stream differently). `rest` is the frame's JSON text after `{"type":…,"id":…` — it starts with
 * `,` (or is `}` alone) and ends the object — so a socket's copy is one concatenation, and a chunk
 * is never re-serialised.
 *
 * `seq` is the frame's place in the stream, from 1 with no gaps. The one frame of a request that
 * failed before it started (its `chat.error`) is seq 1 here although it carries no seq on the wire.

 */
export interface RecordFrame {
  readonly seq: number;
  readonly type: StreamFrameType;
  readonly rest: string;
  /**
   * A `chat.chunk` that is nothing but a content delta: that text (see `compact-delta.ts`), set by
   * the producer from the chunk it parsed anyway, so a live `format: "text"` reader renders its
   * compact frame without parsing `rest`. Not kept in the log: a frame read back has none.
   */
  readonly text?: string;
}

export const isTerminal = (type: StreamFrameType): boolean => type === 'chat.done' || type === 'chat.error';

/** `{"type":"chat.chunk","id":"…"` for each type: what a socket puts before a frame's `rest`. */
export class FramePrefixes {
  private readonly byType = new Map<StreamFrameType, { text: string; bytes: number }>();

  constructor(private readonly id: string) {}

  render(frame: RecordFrame): string {
    return this.prefixOf(frame.type).text + frame.rest;
  }

  /** The prefix for `type`, and its length in UTF-8 bytes. */
  prefixOf(type: StreamFrameType): { text: string; bytes: number } {
    let prefix = this.byType.get(type);
    if (prefix === undefined) {
      const text = `{"type":"${type}","id":${JSON.stringify(this.id)}`;
      prefix = { text, bytes: Buffer.byteLength(text) };
      this.byType.set(type, prefix);
    }
    return prefix;
  }
}

/** Builds the `rest` of a frame from its fields other than `type` and `id` (cold path: not chunks). */
export function restOf(fields: Record<string, unknown>): string {
  const json = JSON.stringify(fields);
  return json === '{}' ? '}' : `,${json.slice(1)}`;
}
