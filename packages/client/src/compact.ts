/**
 * The compact content-delta frame (issue 23): the SDK asks for `format: "text"`, so a chunk that is
 * nothing but a content delta arrives as `{"t":"d","id":…,"s":…,"x":…}`. The SDK hands its users
 * the same `chunk` events as ever, so it rebuilds the chunk such a frame stands for here.
 */
import type { ChatChunkFrame, ChatCompletionChunk, ChatDeltaFrame } from '@holysheep/protocol';

/** A compact frame as the transport hands it up: typed like the other frames, seq named `seq`. */
export interface DeltaFrame {
  type: 'chat.delta';
  id: string;
  seq: number;
  text: string;
}

/** The frame as {@link DeltaFrame} when `value` is a compact delta frame, else undefined. */
export function asDeltaFrame(value: unknown): DeltaFrame | undefined {
  const frame = value as Partial<ChatDeltaFrame> | null;
  if (frame === null || typeof frame !== 'object' || frame.t !== 'd') return undefined;
  if (typeof frame.id !== 'string' || typeof frame.s !== 'number' || typeof frame.x !== 'string') return undefined;
  return { type: 'chat.delta', id: frame.id, seq: frame.s, text: frame.x };
}

/** The chunk fields a compact frame leaves out: those of the stream's last whole chunk. */
export type ChunkEnvelope = Omit<ChatCompletionChunk, 'choices' | 'usage'>;

/** The envelope of a whole chunk, kept to rebuild the compact ones that follow it. */
export function envelopeOf(chunk: ChatCompletionChunk): ChunkEnvelope {
  const { choices: _choices, usage: _usage, ...envelope } = chunk as ChatCompletionChunk & { usage?: unknown };
  return envelope;
}

/**
 * The chunk a compact frame stands for: the envelope of the stream's last whole chunk (a resume
 * that starts past every whole chunk has none: the stream id and model stand in) and one choice
 * whose delta is the text.
 */
export function chunkOf(text: string, envelope: ChunkEnvelope | undefined, fallback: { stream_id?: string; model?: string }): ChatCompletionChunk {
  const base = envelope ?? { id: fallback.stream_id ?? '', object: 'chat.completion.chunk', created: 0, model: fallback.model ?? '' };
  return { ...base, choices: [{ index: 0, delta: { content: text }, finish_reason: null }] } as ChatCompletionChunk;
}

/**
 * A compact frame as the `frame` event reports it (for logs and developer tools, whose record type
 * is the protocol's frames): the `chat.chunk` it stands for, without the envelope it left out.
 */
export function deltaAsChunkFrame(frame: DeltaFrame): ChatChunkFrame {
  return { type: 'chat.chunk', id: frame.id, stream_id: '', seq: frame.seq, chunk: chunkOf(frame.text, undefined, {}) };
}
