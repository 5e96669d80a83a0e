import type { GatewayConfig } from '../config/config.schema';
import { isTransientStatus, UpstreamError } from './upstream.errors';

export type RetryDecision = { retry: true; delayMs: number } | { retry: false };

/**
 * When to try an upstream request again. Only failures before the first chunk qualify (a retry
 * after text was relayed would duplicate it): connection errors, 408, 409, 429 and 5xx.
 * Delays are exponential with full jitter (AWS Architecture Blog, "Exponential Backoff and
 * Jitter"), or the upstream's own `retry-after` when it gave one and it is within the cap; a longer
 * `retry-after` is not waited out here but handed to the client as `retry_after_ms`.
 */
export class RetryPolicy {
  constructor(
    private readonly config: GatewayConfig['retry'],
    private readonly random: () => number = Math.random,
  ) {}

  static isRetryable(error: unknown): error is UpstreamError {
    if (!(error instanceof UpstreamError) || error.details.afterFirstChunk) return false;
    switch (error.kind) {
      case 'connect':
      case 'connect_timeout':
      case 'truncated':
        return true;
      case 'http_status':
        return isTransientStatus(error.details.status ?? 0);
      default:
        return false;
    }
  }

  /** Whether a model is unavailable, so the next fallback model should be tried. */
  static isModelUnavailable(error: unknown): boolean {
    if (!(error instanceof UpstreamError) || error.details.afterFirstChunk) return false;
    if (error.kind === 'http_status' && error.details.status === 404) return true;
    if (error.details.upstreamType && /model_not_found|model_not_available/i.test(error.details.upstreamType)) return true;
    return RetryPolicy.isRetryable(error);
  }

  /** @param retriesSoFar retries already made for this model (0 before the first retry). */
  decide(error: unknown, retriesSoFar: number): RetryDecision {
    if (retriesSoFar >= this.config.maxRetries || !RetryPolicy.isRetryable(error)) return { retry: false };
    const retryAfter = error.details.retryAfterMs;
    if (retryAfter !== undefined) {
      return retryAfter <= this.config.maxDelayMs ? { retry: true, delayMs: retryAfter } : { retry: false };
    }
    const ceiling = Math.min(this.config.maxDelayMs, this.config.baseDelayMs * 2 ** retriesSoFar);
    return { retry: true, delayMs: Math.floor(this.random() * ceiling) };
  }
}
