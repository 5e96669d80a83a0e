import type { StreamFrame } from '../protocol';

export type StreamFrameType = StreamFrame['type'];

/**
 * One frame of a stream as it is logged: everything but the `id`, which belongs to the socket that
 * receives it (a resume may name the stream differently). `rest` is the frame's JSON text after
 * `{"type":…,"id":…` — it starts with `,` (or is `}` alone) and ends the object — so a socket's copy
 * is one concatenation, and a chunk is never re-serialised.
 *
 * `seq` is the frame's place in the stream, from 1 with no gaps. The one frame of a request that
 * failed before it started (its `chat.error`) is seq 1 here although it carries no seq on the wire.
 */
export interface LoggedFrame {
  readonly seq: number;
  readonly type: StreamFrameType;
  readonly rest: string;
}

export const isTerminal = (type: StreamFrameType): boolean => type === 'chat.done' || type === 'chat.error';

/** `{"type":"chat.chunk","id":"…"` for each type: what a socket puts before a frame's `rest`. */
export class FramePrefixes {
  private readonly byType = new Map<StreamFrameType, string>();

  constructor(private readonly id: string) {}

  render(frame: LoggedFrame): string {
    let prefix = this.byType.get(frame.type);
    if (prefix === undefined) {
      prefix = `{"type":"${frame.type}","id":${JSON.stringify(this.id)}`;
      this.byType.set(frame.type, prefix);
    }
    return prefix + frame.rest;
  }
}

/** Builds the `rest` of a frame from its fields other than `type` and `id` (cold path: not chunks). */
export function restOf(fields: Record<string, unknown>): string {
  const json = JSON.stringify(fields);
  return json === '{}' ? '}' : `,${json.slice(1)}`;
}

/** Approximate bytes a frame holds in memory (its text, mostly one byte per character, plus the object), for the log's bounds. */
export const frameBytes = (frame: LoggedFrame): number => frame.rest.length + 64;
