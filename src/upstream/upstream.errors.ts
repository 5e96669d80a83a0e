/**
 * Typed failures of one upstream call. The stream layer maps each to a protocol error code
 * (see `streams/stream-errors.ts`); nothing here knows the wire protocol.
 */
export type UpstreamFailureKind =
  /** The upstream answered with a non-2xx status. */
  | 'http_status'
  /** No connection could be made, or it broke before the response started. */
  | 'connect'
  | 'connect_timeout'
  /** No first chunk within the first-chunk timeout. */
  | 'first_chunk_timeout'
  /** No chunk for longer than the stall timeout, after the first. */
  | 'stall_timeout'
  /** The body ended (or the connection dropped) before `[DONE]` and before any `finish_reason`. */
  | 'truncated'
  /** Not `text/event-stream`, a data line that is not a JSON object, or an oversized event. */
  | 'bad_response'
  /** A data payload carrying an `error` object instead of a chunk. */
  | 'error_event';

export class UpstreamError extends Error {
  constructor(
    readonly kind: UpstreamFailureKind,
    message: string,
    readonly details: {
      status?: number;
      /** From `retry-after-ms` or `retry-after` (seconds or HTTP date), when the upstream sent one. */
      retryAfterMs?: number;
      /** The upstream's own `error.type` / `error.code`, for mapping transient errors. */
      upstreamType?: string;
      /** Whether any chunk was emitted before the failure (retries are only safe before). */
      afterFirstChunk?: boolean;
    } = {},
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

/**
 * Whether an identical request may get past this status later: 408, 429 and 5xx (RFC 9110), and
 * 409, which OpenAI-compatible APIs use for transient conflicts. Retries and the client's
 * `retryable` both follow it.
 */
export function isTransientStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 409 || status === 429;
}

/** Parses `retry-after-ms` (OpenAI) or `retry-after` (RFC 9110 §10.2.3: seconds or an HTTP date). */
export function parseRetryAfter(headers: Record<string, string | string[] | undefined>, now = Date.now()): number | undefined {
  const ms = first(headers['retry-after-ms']);
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.ceil(Number(ms));
  const value = first(headers['retry-after'])?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/**
 * Pulls a human-readable message out of an OpenAI-style error body (`{"error":{"message":…}}`),
 * falling back to the start of the raw text.
 */
export function extractUpstreamMessage(body: unknown): { message?: string; type?: string } {
  if (body && typeof body === 'object') {
    const error = (body as { error?: unknown }).error;
    if (typeof error === 'string') return { message: error };
    if (error && typeof error === 'object') {
      const e = error as { message?: unknown; type?: unknown; code?: unknown };
      return {
        message: typeof e.message === 'string' ? e.message : undefined,
        type: typeof e.type === 'string' ? e.type : typeof e.code === 'string' ? e.code : undefined,
      };
    }
    const message = (body as { message?: unknown }).message;
    if (typeof message === 'string') return { message };
  }
  return {};
}
