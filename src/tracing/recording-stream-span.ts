import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import { RecordingUpstreamAttempt } from './recording-upstream-attempt';
import {
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  GATEWAY_ATTRIBUTES,
  UPSTREAM_SPAN_NAME,
} from './span-attributes';
import type { StreamSpan, StreamSpanOutcome, UpstreamAttempt } from './stream-span';
import { formatTraceparent } from './trace-context';

/** The span of one stream, parent of its upstream attempts; ended once with the stream's outcome. */
export class RecordingStreamSpan implements StreamSpan {
  readonly traceparent: string | undefined;
  private ended = false;
  /** The context upstream spans are parented on; built on the first attempt only. */
  private childContext: Context | undefined;
  /** Attempts run one after another, so only the latest can still be open when the stream ends. */
  private lastAttempt: RecordingUpstreamAttempt | undefined;

  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
    private readonly secrets: ReadonlyArray<string | undefined>,
  ) {
    this.traceparent = formatTraceparent(span.spanContext());
  }

  startUpstreamAttempt(model: string, attempt: number): UpstreamAttempt {
    this.childContext ??= trace.setSpan(ROOT_CONTEXT, this.span);
    const span = this.tracer.startSpan(
      UPSTREAM_SPAN_NAME,
      {
        // CLIENT: an outgoing HTTP call to another service; this is also the kind the GenAI
        // conventions give a call to a remote model.
        kind: SpanKind.CLIENT,
        attributes: { [ATTR_GEN_AI_OPERATION_NAME]: 'chat', [ATTR_GEN_AI_REQUEST_MODEL]: model, [GATEWAY_ATTRIBUTES.attempt]: attempt },
      },
      this.childContext,
    );
    this.lastAttempt = new RecordingUpstreamAttempt(span, this.secrets);
    return this.lastAttempt;
  }

  end(outcome: StreamSpanOutcome): void {
    if (this.ended) return;
    this.ended = true;
    // An unended span is never exported: close an attempt the caller left open (the stream is over,
    // so that call is too) rather than lose it.
    if (this.lastAttempt && !this.lastAttempt.ended) this.lastAttempt.end({});
    const attributes: Attributes = { [GATEWAY_ATTRIBUTES.chunks]: outcome.chunks };
    if (outcome.timeToFirstChunkMs !== undefined) attributes[GATEWAY_ATTRIBUTES.ttfcMs] = outcome.timeToFirstChunkMs;
    if (outcome.model !== undefined) attributes[ATTR_GEN_AI_RESPONSE_MODEL] = outcome.model;
    if (outcome.finishReason !== undefined) attributes[ATTR_GEN_AI_RESPONSE_FINISH_REASONS] = [outcome.finishReason];
    // Usage comes from the upstream's JSON: recorded only when it really is a count.
    const usage = outcome.usage;
    if (usage && isCount(usage.prompt_tokens)) attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS] = usage.prompt_tokens;
    if (usage && isCount(usage.completion_tokens)) attributes[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS] = usage.completion_tokens;
    if (outcome.abandoned) attributes[GATEWAY_ATTRIBUTES.abandoned] = true;
    if (outcome.errorCode !== undefined) {
      attributes[GATEWAY_ATTRIBUTES.errorCode] = outcome.errorCode;
      attributes[ATTR_ERROR_TYPE] = outcome.errorCode;
      // The code only: a chat.error message can quote the upstream's response.
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.errorCode });
    }
    this.span.setAttributes(attributes);
    this.span.end();
  }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
