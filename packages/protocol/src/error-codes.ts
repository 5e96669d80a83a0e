/**
 * Every `code` the gateway may put in an `error` or `chat.error` frame (docs/protocol.md, "Error codes").
 * This table is the single source: the AsyncAPI document and the docs are checked against it.
 *
 * `retryable` is the default for `chat.error` frames: whether sending the same request again may
 * succeed without the client changing anything.
 */
export const ERROR_CODES = {
  bad_request: { retryable: false, meaning: 'The frame is malformed: not JSON, binary, a missing or ill-typed field, or over a content cap.' },
  unknown_type: { retryable: false, meaning: 'The frame has a `type` this protocol version does not define.' },
  duplicate_id: { retryable: false, meaning: 'A `chat.request` reused the `id` of a stream still active on this socket.' },
  too_many_streams: { retryable: true, meaning: 'This socket already has the maximum number of concurrent streams.' },
  rate_limited: { retryable: true, meaning: 'Too many requests or frames; wait `retry_after_ms` before sending again.' },
  model_not_allowed: { retryable: false, meaning: 'The requested model is not on this gateway’s allow-list.' },
  unauthorized: { retryable: false, meaning: 'Missing, invalid or expired credential (the socket then closes with 4401).' },
  forbidden: { retryable: false, meaning: 'The principal may not do this (the socket may close with 4403).' },
  upstream_error: { retryable: false, meaning: 'The upstream rejected the request (4xx, or an error event in the stream).' },
  upstream_unavailable: { retryable: true, meaning: 'The upstream could not be reached, or answered 5xx / 429 after retries.' },
  upstream_timeout: { retryable: true, meaning: 'No first chunk in time, or the stream stalled.' },
  upstream_disconnected: { retryable: true, meaning: 'The upstream connection ended before `[DONE]` or a `finish_reason`: the text is truncated.' },
  upstream_bad_response: { retryable: false, meaning: 'The upstream did not answer with SSE, or sent a data line that is not JSON.' },
  stream_not_found: { retryable: false, meaning: '`stream.resume` named a stream that is unknown, expired, or not this principal’s.' },
  shutting_down: { retryable: true, meaning: 'This instance is draining; reconnect (to any instance) and retry.' },
  internal_error: { retryable: true, meaning: 'An unexpected gateway fault; the gateway keeps running.' },
} as const satisfies Record<string, { retryable: boolean; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const isErrorCode = (value: string): value is ErrorCode => Object.prototype.hasOwnProperty.call(ERROR_CODES, value);
