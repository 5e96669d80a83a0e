import { RetryPolicy } from './retry-policy';
import { UpstreamError, type UpstreamFailureKind } from './upstream.errors';

const CONFIG = { maxRetries: 2, baseDelayMs: 100, maxDelayMs: 1_000 };
const status = (code: number, details: Partial<UpstreamError['details']> = {}) =>
  new UpstreamError('http_status', `Upstream answered ${code}`, { status: code, ...details });
const failure = (kind: UpstreamFailureKind, details: UpstreamError['details'] = {}) => new UpstreamError(kind, kind, details);

describe('RetryPolicy', () => {
  describe('isRetryable', () => {
    it.each([408, 409, 429, 500, 502, 503, 504, 599])('retries HTTP %i', (code) => {
      expect(RetryPolicy.isRetryable(status(code))).toBe(true);
    });

    it.each([400, 401, 403, 404, 413, 422])('does not retry HTTP %i', (code) => {
      expect(RetryPolicy.isRetryable(status(code))).toBe(false);
    });

    it.each<UpstreamFailureKind>(['connect', 'connect_timeout', 'truncated'])('retries %s before the first chunk', (kind) => {
      expect(RetryPolicy.isRetryable(failure(kind))).toBe(true);
    });

    it.each<UpstreamFailureKind>(['first_chunk_timeout', 'stall_timeout', 'bad_response', 'error_event'])('does not retry %s', (kind) => {
      expect(RetryPolicy.isRetryable(failure(kind))).toBe(false);
    });

    it('retries nothing after the first chunk (the text would be duplicated)', () => {
      for (const error of [failure('truncated', { afterFirstChunk: true }), failure('connect', { afterFirstChunk: true }), status(503, { afterFirstChunk: true })]) {
        expect(RetryPolicy.isRetryable(error)).toBe(false);
        expect(new RetryPolicy(CONFIG).decide(error, 0)).toEqual({ retry: false });
      }
    });

    it('does not retry what is not an UpstreamError', () => {
      expect(RetryPolicy.isRetryable(new Error('ECONNRESET'))).toBe(false);
      expect(RetryPolicy.isRetryable('503')).toBe(false);
    });
  });

  describe('decide', () => {
    it('stops after maxRetries', () => {
      const policy = new RetryPolicy(CONFIG, () => 0.5);
      expect(policy.decide(status(503), 0)).toMatchObject({ retry: true });
      expect(policy.decide(status(503), 1)).toMatchObject({ retry: true });
      expect(policy.decide(status(503), 2)).toEqual({ retry: false });
      expect(new RetryPolicy({ ...CONFIG, maxRetries: 0 }).decide(status(503), 0)).toEqual({ retry: false });
    });

    it('honours retry-after within the cap, exactly, without jitter', () => {
      const policy = new RetryPolicy(CONFIG, () => 0);
      expect(policy.decide(status(429, { retryAfterMs: 750 }), 0)).toEqual({ retry: true, delayMs: 750 });
      expect(policy.decide(status(429, { retryAfterMs: 1_000 }), 1)).toEqual({ retry: true, delayMs: 1_000 });
      expect(policy.decide(status(503, { retryAfterMs: 0 }), 0)).toEqual({ retry: true, delayMs: 0 });
    });

    it('does not wait out a retry-after beyond the cap (the client gets it as retry_after_ms instead)', () => {
      expect(new RetryPolicy(CONFIG).decide(status(429, { retryAfterMs: 1_001 }), 0)).toEqual({ retry: false });
    });

    it('draws full jitter in [0, min(cap, base × 2^retries)) from the injected random', () => {
      const ceilings = [100, 200, 400, 800, 1_000, 1_000];
      const many = { ...CONFIG, maxRetries: 10 };
      ceilings.forEach((ceiling, retries) => {
        expect(new RetryPolicy(many, () => 0).decide(status(503), retries)).toEqual({ retry: true, delayMs: 0 });
        expect(new RetryPolicy(many, () => 0.5).decide(status(503), retries)).toEqual({ retry: true, delayMs: ceiling / 2 });
        expect(new RetryPolicy(many, () => 0.999_999).decide(status(503), retries)).toEqual({ retry: true, delayMs: ceiling - 1 });
      });
    });
  });

  describe('isModelUnavailable (fall back to the next model)', () => {
    it('on 404 and on model_not_found / model_not_available, whatever the status', () => {
      expect(RetryPolicy.isModelUnavailable(status(404))).toBe(true);
      expect(RetryPolicy.isModelUnavailable(status(400, { upstreamType: 'model_not_found' }))).toBe(true);
      expect(RetryPolicy.isModelUnavailable(failure('error_event', { upstreamType: 'Model_Not_Available' }))).toBe(true);
    });

    it('on what would be retried (the model may be the one that is down)', () => {
      expect(RetryPolicy.isModelUnavailable(status(503))).toBe(true);
      expect(RetryPolicy.isModelUnavailable(failure('connect'))).toBe(true);
    });

    it('not on a bad request, nor on anything after the first chunk', () => {
      expect(RetryPolicy.isModelUnavailable(status(400, { upstreamType: 'invalid_request_error' }))).toBe(false);
      expect(RetryPolicy.isModelUnavailable(status(401))).toBe(false);
      expect(RetryPolicy.isModelUnavailable(status(404, { afterFirstChunk: true }))).toBe(false);
      expect(RetryPolicy.isModelUnavailable(failure('error_event', { upstreamType: 'model_not_found', afterFirstChunk: true }))).toBe(false);
      expect(RetryPolicy.isModelUnavailable(new Error('404'))).toBe(false);
    });
  });
});
