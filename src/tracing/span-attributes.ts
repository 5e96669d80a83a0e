/** Span names and attribute keys: stable, so dashboards and tests can rely on them. */

// GenAI / enduser semantic-convention keys. Copied rather than imported: in
// @opentelemetry/semantic-conventions they exist only in the `incubating` entry point, which that
// package asks applications not to depend on (it may break in any minor release; as of 1.45 these
// keys are even marked as moved to a separate GenAI conventions repository), and which TypeScript's
// CommonJS (node10) module resolution in this project cannot see anyway.
export const ATTR_GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
export const ATTR_GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
export const ATTR_GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model';
export const ATTR_GEN_AI_RESPONSE_FINISH_REASONS = 'gen_ai.response.finish_reasons';
export const ATTR_GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
export const ATTR_GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
export const ATTR_ENDUSER_ID = 'enduser.id';

/** Gateway-specific attributes: no convention exists for these. */
export const GATEWAY_ATTRIBUTES = {
  requestId: 'gateway.request_id',
  streamId: 'gateway.stream_id',
  chunks: 'gateway.chunks',
  ttfcMs: 'gateway.ttfc_ms',
  errorCode: 'gateway.error_code',
  abandoned: 'gateway.abandoned',
  afterSeq: 'gateway.resume.after_seq',
  resumeResult: 'gateway.resume.result',
  attempt: 'gateway.attempt',
} as const;

/** Span names; stable so dashboards and tests can rely on them. */
export const STREAM_SPAN_NAME = 'chat.stream';
export const UPSTREAM_SPAN_NAME = 'chat.upstream';
export const RESUME_SPAN_NAME = 'chat.resume';

/** Upstream error texts are free-form (they can echo an upstream response body): kept short. */
export const MAX_ERROR_TEXT_LENGTH = 256;
