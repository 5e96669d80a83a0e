import type { ChatMessage, ForwardedRequestField } from '@holysheep/protocol';

/** The body the gateway sends upstream, before it adds `stream` and `stream_options`. */
export type UpstreamChatRequest = {
  model: string;
  messages: ChatMessage[];
} & Partial<Record<ForwardedRequestField, unknown>>;

/** One parsed upstream event: the chunk object, and its JSON text exactly as received. */
export interface UpstreamChunk {
  chunk: import('@holysheep/protocol').ChatCompletionChunk;
  /** The `data:` payload as the upstream sent it, relayed without re-serialising. */
  raw: string;
  /** The model this chunk's request asked for: the requested one, or a fallback. */
  model: string;
  /** The chunk's `finish_reason`, read once by the upstream service (null on most chunks). */
  finishReason: string | null;
}
