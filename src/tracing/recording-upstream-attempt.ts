import { SpanStatusCode, type Span } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE, ATTR_HTTP_RESPONSE_STATUS_CODE } from '@opentelemetry/semantic-conventions';
import { redactSecrets } from '../redaction/redact';
import { MAX_ERROR_TEXT_LENGTH } from './span-attributes';
import type { UpstreamAttempt } from './stream-span';
import { formatTraceparent } from './trace-context';

/** The span of one upstream attempt, ended once with its HTTP status or failure. */
export class RecordingUpstreamAttempt implements UpstreamAttempt {
  readonly traceparent: string | undefined;
  ended = false;

  constructor(
    private readonly span: Span,
    private readonly secrets: ReadonlyArray<string | undefined>,
  ) {
    this.traceparent = formatTraceparent(span.spanContext());
  }

  end(result: { status?: number; error?: string }): void {
    if (this.ended) return;
    this.ended = true;
    const { status, error } = result;
    if (typeof status === 'number' && Number.isInteger(status)) this.span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    // HTTP client semantic conventions: a 4xx/5xx response is an error of the call even when the
    // caller passes no text for it.
    const failedStatus = typeof status === 'number' && status >= 400;
    if (error !== undefined || failedStatus) {
      // error.type must be low-cardinality: the status code when there is one, else the catch-all.
      this.span.setAttribute(ATTR_ERROR_TYPE, failedStatus ? String(status) : '_OTHER');
      const text = error !== undefined ? redactSecrets(error, ...this.secrets).slice(0, MAX_ERROR_TEXT_LENGTH) : `HTTP ${status}`;
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: text });
    }
    this.span.end();
  }
}
