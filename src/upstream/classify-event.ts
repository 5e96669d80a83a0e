import type { ChatCompletionChunk } from '@holysheep/protocol';
import type { UpstreamChunk } from './upstream-request';
import { extractUpstreamMessage, UpstreamError } from './upstream.errors';

/** `data: [DONE]`: the stream is complete. */
export const DONE = 'done';
/** A named event that is not part of the chat stream (a vendor ping and the like). */
export const IGNORED = 'ignored';

/**
 * What one SSE event means to the chat stream. A chunk is the very object the stream emits, so
 * classifying it allocates nothing beyond it; the other outcomes are constants or a failure.
 */
export type ClassifiedEvent = UpstreamChunk | typeof DONE | typeof IGNORED | UpstreamError;

/**
 * Classifies one SSE event of an OpenAI-compatible chat completion stream. Pure: the caller acts
 * on the result.
 *
 * Only unnamed and `message` events carry chunks; `error` events carry failures; other named
 * events are {@link IGNORED}. A data payload that is not a JSON object is a `bad_response`; one
 * with an `error` member (or any `event: error`) is an `error_event`.
 *
 * @param model the model the request asked for, stamped on the chunk.
 * @param afterFirstChunk whether chunks were already emitted (a failure then cannot be retried).
 */
export function classifyEvent(data: string, eventName: string | undefined, model: string, afterFirstChunk: boolean): ClassifiedEvent {
  if (eventName !== undefined && eventName !== 'message' && eventName !== 'error') return IGNORED;
  if (data === '[DONE]') return DONE;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return new UpstreamError('bad_response', 'Upstream sent a data line that is not JSON', { afterFirstChunk });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return new UpstreamError('bad_response', 'Upstream sent a data line that is not a JSON object', { afterFirstChunk });
  }
  const object = parsed as ChatCompletionChunk & { error?: unknown };
  if ((object.error !== undefined && object.error !== null) || eventName === 'error') {
    const { message, type } = extractUpstreamMessage(object);
    return new UpstreamError('error_event', `Upstream reported an error mid-stream: ${message ?? 'no message'}`, {
      upstreamType: type,
      afterFirstChunk,
    });
  }
  return { chunk: object, raw: data, model, finishReason: finishReasonOf(object) };
}

/** The chunk's (last) non-empty `finish_reason`, or null; tolerant of malformed `choices`. */
function finishReasonOf(chunk: ChatCompletionChunk): string | null {
  const choices = chunk.choices;
  if (!Array.isArray(choices)) return null;
  let reason: string | null = null;
  for (let i = 0; i < choices.length; i++) {
    const value: unknown = choices[i]?.finish_reason;
    if (value) reason = String(value);
  }
  return reason;
}
