import { ERROR_CODES, type ErrorCode } from '@holysheep/protocol';
import { isTransientStatus, UpstreamError } from '../upstream/upstream.errors';

export interface StreamFailure {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  retryAfterMs?: number;
}

/** The terminal a reader gets when the producer of the stream it reads died mid-way (or was fenced off). */
export const PRODUCER_DIED = {
  code: 'upstream_disconnected',
  message: 'The gateway instance producing this answer stopped before it finished; send the request again',
  retryable: true,
} as const satisfies StreamFailure;

/**
 * The terminal a reader on another replica gets when it cannot follow the shared log on: a hole
 * where it is reading (frames a Redis primary acknowledged and lost in a failover — asynchronous
 * replication — or trimmed past a reader that fell behind), or a read Redis did not answer within
 * its deadline. The answer cannot reach it whole from the log, so it is told to ask again (issue
 * 26: whole, or one retryable terminal); the owner's own sockets, which read its memory, are not
 * affected.
 */
export const LOG_GAP = {
  code: 'upstream_disconnected',
  message: 'This answer could not be followed whole from the shared stream log; send the request again',
  retryable: true,
} as const satisfies StreamFailure;

/** `error.type` / `error.code` values OpenAI-compatible APIs use for transient mid-stream errors. */
const TRANSIENT_UPSTREAM_TYPE = /server_error|overloaded|rate_limit|timeout|unavailable/i;

/**
 * Maps an upstream failure (or any unexpected error) to the protocol's `chat.error` fields.
 * Messages come from our own texts plus the upstream's message, never from a stack.
 */
export function toStreamFailure(error: unknown): StreamFailure {
  if (!(error instanceof UpstreamError)) {
    return { code: 'internal_error', message: 'The gateway failed to relay this stream', retryable: ERROR_CODES.internal_error.retryable };
  }
  const { kind, details } = error;
  switch (kind) {
    case 'http_status':
      return isTransientStatus(details.status ?? 0)
        ? { code: 'upstream_unavailable', message: error.message, retryable: true, retryAfterMs: details.retryAfterMs }
        : { code: 'upstream_error', message: error.message, retryable: false };
    case 'connect':
    case 'connect_timeout':
      return { code: 'upstream_unavailable', message: error.message, retryable: true };
    case 'first_chunk_timeout':
    case 'stall_timeout':
      return { code: 'upstream_timeout', message: error.message, retryable: true };
    case 'truncated':
      return { code: 'upstream_disconnected', message: error.message, retryable: true };
    case 'bad_response':
      return { code: 'upstream_bad_response', message: error.message, retryable: false };
    case 'error_event':
      return details.upstreamType && TRANSIENT_UPSTREAM_TYPE.test(details.upstreamType)
        ? { code: 'upstream_unavailable', message: error.message, retryable: true }
        : { code: 'upstream_error', message: error.message, retryable: false };
  }
}
